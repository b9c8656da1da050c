# The README's two commands: `make demo` and `make test`. Both set up .venv with pip on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.imgcheck-installed
EXTRAS ?= cpu,train,dev
DEMO_DIR ?= demo

.PHONY: venv demo test test-fast clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[$(EXTRAS)]'
	@touch $@

venv: $(STAMP)

# Until the bundled default model lands, the demo builds the tests' tiny model in every carrier
# and shows the ModelMeta each one carries.
demo: venv
	$(PY) tests/tiny_models.py $(DEMO_DIR)
	$(VENV)/bin/imgcheck info $(DEMO_DIR)/tiny.onnx
	$(VENV)/bin/imgcheck info --json $(DEMO_DIR)/tiny_torchscript.pt
	$(VENV)/bin/imgcheck info $(DEMO_DIR)/tiny_checkpoint.pt

test: venv
	$(PY) -m pytest

test-fast: venv
	$(PY) -m pytest -m "not slow"

clean:
	rm -rf $(VENV) $(DEMO_DIR) build *.egg-info .pytest_cache
