# The two entry points the README promises: `make demo` and `make test`.
# Both create .venv when it is missing, so they work on a fresh clone, in either order.
# One .venv, two stamps: $(RUN_STAMP) = focusflow and its runtime dependencies (what the
# devnet needs), $(STAMP) = that plus the dev and webgpu extras (what the tests need).
# A full install satisfies the runtime stamp; a runtime install is topped up by `make test`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUN_STAMP := $(VENV)/.installed-run

.PHONY: demo test lint typecheck unit sysdeps bench clean

$(VENV)/bin/python:
	@echo "==> creating $(VENV) (Python virtual environment)"
	$(PY) -m venv $(VENV)
	@echo "==> upgrading pip"
	@$(BIN)/pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(VENV)/bin/python
	@echo "==> installing focusflow with the dev and webgpu extras (tests, lint, typecheck)"
	$(BIN)/pip install -q -e '.[dev,webgpu]'
	touch $(STAMP) $(RUN_STAMP)

$(RUN_STAMP): pyproject.toml | $(VENV)/bin/python
	@if [ -f $(STAMP) ] && [ $(STAMP) -nt pyproject.toml ]; then touch $(RUN_STAMP); else \
	  echo "==> installing focusflow and its runtime dependencies (numpy, scipy, pycapnp, ...)"; \
	  $(BIN)/pip install --progress-bar on -e . 2>&1 | grep -E --line-buffered '^(Collecting|Installing|Successfully|ERROR|error)' ; \
	  test "$${PIPESTATUS[0]}" = 0 && touch $(RUN_STAMP); fi

# System packages the tests use: the Cap'n Proto compiler (the schemas must compile with
# the official tool), Mesa's software Vulkan driver (WGSL kernels run on llvmpipe),
# Chromium (the node's web page is tested in headless Chromium) and promtool (package
# prometheus: a node's /metrics must pass `promtool check metrics`).
# Best effort: needs root and apt; tests that need them skip with a reason otherwise,
# unless FOCUSFLOW_REQUIRE_SYSDEPS=1 (set by CI) makes a missing one a failure.
sysdeps:
	@if ! command -v capnp >/dev/null 2>&1 || ! ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1 \
	    || ! command -v chromium >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq capnproto mesa-vulkan-drivers libvulkan1 chromium >/dev/null \
	      && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null) \
	      || echo "warning: could not install capnproto/mesa-vulkan-drivers/chromium/prometheus" >&2; \
	  else echo "note: capnproto, mesa-vulkan-drivers, chromium or promtool (prometheus) missing (need root+apt); dependent tests will skip" >&2; fi; \
	fi

demo: $(RUN_STAMP)
	@echo "==> running a devnet of 4 validator processes for 20 s"
	$(BIN)/focusflow devnet --validators 4 --duration 20
	@echo
	@echo "Done. To run focusflow yourself:  . $(VENV)/bin/activate && focusflow --help"
	@echo "(or call $(BIN)/focusflow directly; 'make test' adds the dev tools to the same $(VENV))"

lint: $(STAMP)
	$(BIN)/ruff check $(wildcard focusflow tests benchmarks examples)

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q -n 2

test: sysdeps $(STAMP) lint typecheck unit

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b --quick || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
