# ssl_dense: the two commands of the README, plus helpers.
#   make quickstart   install if needed, train + evaluate RetinaNet on BCCD (CPU)
#   make test         install if needed, run the test suite
# Both create or reuse the virtual environment in $(VENV); a second call
# installs nothing.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.ssl_dense-installed
QUICKSTART_CONFIG ?= configs/retinanet/retinanet_effl0_fpn_1xb4-1k_bccd.py
QUICKSTART_DIR ?= work_dirs/quickstart
PYTEST_ARGS ?= -m "not slow"

.PHONY: venv test test-all lint quickstart clean-venv

$(STAMP): tools/install_env.sh setup.cfg
	bash tools/install_env.sh $(VENV)
	touch $@

venv: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS) tests

test-all: $(STAMP)
	$(PY) -m pytest -q tests

lint: $(STAMP)
	$(PY) -m pip show flake8 >/dev/null 2>&1 || $(PY) -m pip install -q flake8
	$(PY) -m flake8 ssl_dense tools tests demo configs

quickstart: $(STAMP)
	$(PY) tools/train.py $(QUICKSTART_CONFIG) --work-dir $(QUICKSTART_DIR)
	$(PY) tools/test.py $(QUICKSTART_CONFIG) "$$(cat $(QUICKSTART_DIR)/last_checkpoint)" \
		--work-dir $(QUICKSTART_DIR)/test

clean-venv:
	rm -rf $(VENV)
