# The README's two commands: `make demo` and `make test`. Both set up .venv with pip on first use, each with only
# what it needs: the demo scans with the bundled ONNX model (the `cpu` extra: onnxruntime, no torch); the tests
# also train and export (`train`), import Hugging Face models (`hub`), and run pytest and the Ray engine (`dev`,
# `ray`).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.imgcheck-installed
DEMO_STAMP := $(VENV)/.imgcheck-demo-installed
EXTRAS ?= cpu,train,hub,dev,ray
DEMO_EXTRAS ?= cpu
DEMO_DIR ?= demo

.PHONY: venv demo test test-fast resnet clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[$(EXTRAS)]'
	@touch $@ $(DEMO_STAMP)

$(DEMO_STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[$(DEMO_EXTRAS)]'
	@touch $@

venv: $(STAMP)

# The demo scans the sample folder shipped in the repository with the bundled model: verdicts CSV (and its
# sidecar), the scan summary with its throughput line, and the metric tables of the labeled samples.
demo: $(DEMO_STAMP)
	@mkdir -p $(DEMO_DIR)
	$(VENV)/bin/imgcheck scan samples --out $(DEMO_DIR)/verdicts.csv --force --metrics $(DEMO_DIR)/metrics.json --report $(DEMO_DIR)/report
	@echo "verdicts: $(DEMO_DIR)/verdicts.csv  metrics: $(DEMO_DIR)/metrics.json  report: $(DEMO_DIR)/report/index.html"

test: venv
	$(PY) -m pytest

test-fast: venv
	$(PY) -m pytest -m "not slow"

# One of the report's ResNet rows: train it (the report's recipe, one run read two ways), export it (ONNX fp32 and
# int8, TorchScript), scan CIFAKE test and Shoes, and re-render benchmarks/results/reproduce_report.md. Needs data/
# (docs/train.md: Reproducing the report). On this 2-core CPU resnet18_v1 took 50 min beside other work; train_speed.md
# puts the training steps of a ResNet-101 run at about 90 min on an idle machine (an estimate).
ARCH ?= resnet18_v1
resnet: venv
	$(PY) benchmarks/reproduce_report.py --archs $(ARCH):recipe

clean:
	rm -rf $(VENV) $(DEMO_DIR) build *.egg-info .pytest_cache
