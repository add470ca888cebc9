"""``python -m focusflow`` runs the command line."""

import sys

from focusflow.cli import main

sys.exit(main())
