# The two entry points the README promises: `make demo` and `make test`.
# Both create .venv when it is missing, so they work on a fresh clone.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit sysdeps bench clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,webgpu]'
	touch $(STAMP)

# System packages the tests use: the Cap'n Proto compiler (the schemas must compile with
# the official tool), Mesa's software Vulkan driver (WGSL kernels run on llvmpipe) and
# Chromium (the node's web page is tested in headless Chromium).
# Best effort: needs root and apt; tests that need them skip with a reason otherwise,
# unless FOCUSFLOW_REQUIRE_SYSDEPS=1 (set by CI) makes a missing one a failure.
sysdeps:
	@if ! command -v capnp >/dev/null 2>&1 || ! ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1 \
	    || ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq capnproto mesa-vulkan-drivers libvulkan1 chromium >/dev/null) \
	      || echo "warning: could not install capnproto/mesa-vulkan-drivers/chromium" >&2; \
	  else echo "note: capnproto, mesa-vulkan-drivers or chromium missing (need root+apt); dependent tests will skip" >&2; fi; \
	fi

demo: $(STAMP)
	$(BIN)/focusflow devnet --validators 4 --duration 20

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
