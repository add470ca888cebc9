"""focusflow: a focus-flow network built as a tree of supervised actors.

Importing the package loads no GPU library and starts nothing; subpackages are
imported on demand (``focusflow.supervisor``, ``focusflow.sim``, ``focusflow.kernels``...).
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
