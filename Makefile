# ssl_dense: the two commands of the README, plus helpers.
#   make quickstart   install if needed, train + evaluate semi-supervised RetinaNet on
#                     BCCD with 10 % labels (CPU), print it beside the results table
#   make test         install if needed, run the test suite
# Both create or reuse the virtual environment in $(VENV); a second call
# installs nothing.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.ssl_dense-installed
QUICKSTART_METHOD ?= ours_fixed
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

# One method of tools/analysis/detection_results.py on split seed 1: trains,
# tests on BCCD test, writes $(QUICKSTART_DIR)/detection.json and prints it
# beside docs/results/detection.json (supervised and semi rows, 3 seeds).
quickstart: $(STAMP)
	$(PY) tools/analysis/detection_results.py --schedule 1k --methods $(QUICKSTART_METHOD) --seeds 1 \
		--work-root $(QUICKSTART_DIR) --out $(QUICKSTART_DIR)/detection.json
	$(PY) tools/analysis/results_table.py docs/results/detection.json \
		--also $(QUICKSTART_DIR)/detection.json

clean-venv:
	rm -rf $(VENV)
