# Every target bootstraps .venv itself: a fresh clone needs only Python 3.11 and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export MLOPS_HOME ?= $(CURDIR)/.mlops
export DAGSTER_HOME ?= $(MLOPS_HOME)/dagster

.PHONY: venv demo test dev clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m mlops_assets demo

# Two workers, one test file each at a time (module fixtures stay whole): most slow tests wait on
# servers and daemons. The dbt manifest is prepared once first, so workers never parse at once.
test: $(STAMP) system-deps
	$(BIN)/python -m mlops_assets prepare-dbt
	$(BIN)/python -m pytest -n 2 --dist loadfile

dev: $(STAMP)
	$(BIN)/python -m mlops_assets prepare-instance
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p $${DAGSTER_PORT:-3000}

clean:
	rm -rf $(MLOPS_HOME)

# Deployment (deploy/): system-deps installs the PostgreSQL server binaries the production-instance
# tests start (Debian packages, as root; a no-op once installed). deploy-check runs tests/deploy,
# with checkov bootstrapped into its own virtualenv, .venv-tools/checkov.
.PHONY: system-deps deploy-check

system-deps:
	bash deploy/scripts/ensure_debian_package.sh postgresql '/usr/lib/postgresql/*/bin/initdb'
	bash deploy/scripts/ensure_debian_package.sh chromium /usr/bin/chromium

deploy-check: $(STAMP) system-deps
	PYTHON=$(PYTHON) bash deploy/scripts/ensure_checkov.sh > /dev/null
	$(BIN)/python -m pytest tests/deploy
