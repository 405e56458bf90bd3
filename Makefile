# fakescope — the README's commands.  `make demo` runs the main job, `make test` the tests.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: demo test install install-dev bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# the core install: ONNX Runtime inference only (no torch)
$(VENV)/.core: $(BIN)/python pyproject.toml
	$(PIP) install -e .
	touch $@

# tests and training need torch: pinned to the CPU build (any other version pulls a CUDA build)
$(VENV)/.dev: $(BIN)/python pyproject.toml
	$(PIP) install "torch==2.13.0"
	$(PIP) install -e ".[dev,train,serve,ray,video]"
	# invisible-watermark (reference embedder for the watermark tests) would pull opencv 5 and an
	# unpinned torch: install it without its dependencies, plus the one it really needs
	$(PIP) install --no-deps "invisible-watermark==0.2.0"
	$(PIP) install PyWavelets
	touch $(VENV)/.core $(VENV)/.serve $@

install: $(VENV)/.core
install-dev: $(VENV)/.dev

# the service (fakescope serve): the core install plus the [serve] extra
$(VENV)/.serve: $(VENV)/.core pyproject.toml
	$(PIP) install -e ".[serve]"
	touch $@

demo: $(VENV)/.serve
	@mkdir -p reports
	$(BIN)/fakescope scan samples --out reports/demo.jsonl --html reports/demo.html --no-progress; test $$? -le 1
	$(BIN)/python bench/demo_check.py reports/demo.jsonl samples/labels.csv

# probe/rigid export their backbone to ONNX once; keep that cache inside the checkout
test: $(VENV)/.dev
	FAKESCOPE_CACHE=$(CURDIR)/.cache/fakescope $(BIN)/python -m pytest -q -n 2 -p no:cacheprovider

bench: $(VENV)/.dev
	$(BIN)/python bench/scan_throughput.py
	$(BIN)/python bench/quality.py

clean:
	rm -rf reports .pytest_cache build dist src/*.egg-info
