# Every target bootstraps .venv itself: a fresh clone needs only Python 3.11 and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# dg checks that it runs in the project's own environment.
DG := VIRTUAL_ENV=$(abspath $(VENV)) $(BIN)/dg
export MLOPS_HOME ?= $(CURDIR)/.mlops
export DAGSTER_HOME ?= $(MLOPS_HOME)/dagster

.PHONY: venv lock demo demo-lakefs lakefs test test-extended lint check-defs dev clean

# Versions come from requirements.lock (every package pinned, with its hashes; `make lock`), so a
# fresh clone installs exactly what CI tested. The lock is already resolved, so nothing is resolved
# again (--no-deps: pip would otherwise look up a dependency's extra, e.g. sqlglot[rs], unpinned);
# `pip check` then proves it complete. A changed lock reinstalls, and what it no longer lists is
# removed (deploy/scripts/sync_venv.py).
LOCK := requirements.lock
$(STAMP): $(LOCK) pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python deploy/scripts/sync_venv.py --remove-extra $(LOCK)
	$(BIN)/python -m pip check
	touch $(STAMP)

venv: $(STAMP)

# Regenerates the locks from pyproject.toml for the one platform we run on (CI, the image and
# development machines are Python 3.11 on linux x86_64): requirements.lock (runtime + [dev]: make,
# CI) and requirements-runtime.lock (runtime only: deploy/Dockerfile), constrained to the same
# versions, so the image runs what CI tested. Versions already locked are kept while pyproject.toml
# allows them; `make lock UPGRADE=1` moves everything to the newest allowed. uv comes from PyPI at a
# pinned version, into its own virtualenv (.venv-tools/uv).
RUNTIME_LOCK := requirements-runtime.lock
UV_VERSION := 0.13.10
UV := .venv-tools/uv/bin/uv
LOCK_FOR := --generate-hashes --quiet --python-version 3.11 --python-platform x86_64-unknown-linux-gnu \
	--custom-compile-command 'make lock'
lock:
	test -x $(UV) && $(UV) --version | grep -q ' $(UV_VERSION)' || { \
		$(PYTHON) -m venv .venv-tools/uv && .venv-tools/uv/bin/pip install --quiet 'uv==$(UV_VERSION)'; }
	$(UV) pip compile pyproject.toml --extra dev $(LOCK_FOR) $(if $(UPGRADE),--upgrade) -o $(LOCK)
	$(UV) pip compile pyproject.toml --constraint $(LOCK) $(LOCK_FOR) -o $(RUNTIME_LOCK)

demo: $(STAMP)
	$(BIN)/python -m mlops_assets demo

# The same demo on a real lakeFS server that the command builds (Go), starts on 127.0.0.1 and stops;
# its own state directory, so it never mixes with the embedded demo's. Needs Go (see `make lakefs`).
LAKEFS_DEMO_HOME := $(MLOPS_HOME)/lakefs-demo
demo-lakefs: $(STAMP)
	MLOPS_HOME=$(LAKEFS_DEMO_HOME) DAGSTER_HOME=$(LAKEFS_DEMO_HOME)/dagster \
		bash deploy/lakefs/with_lakefs.sh $(BIN)/python -m mlops_assets demo --lakefs

# The real lakeFS server, built once from its Go module at the version deploy/lakefs/go.mod pins
# (cached outside the checkout, keyed by go.mod and go.sum); the binary's path is the last line.
lakefs:
	@bash deploy/lakefs/build.sh

# Lint first (ruff check + format check), then the dg project checks, then the tests: two workers,
# one test file each at a time (module fixtures stay whole): most slow tests wait on servers and
# daemons. The dbt manifest is prepared once first, so workers never parse at once. Where Go is
# present the real lakeFS server is built first (deploy/lakefs/with_lakefs.sh) and its tests run.
test: $(STAMP) system-deps lint check-defs
	$(BIN)/python -m mlops_assets prepare-dbt
	bash deploy/lakefs/with_lakefs.sh $(BIN)/python -m pytest -n 2 --dist loadfile

# The production-scale tests the default run leaves out to stay under 20 minutes (marker `extended`:
# a year under the real daemon, pods sharing Postgres, SIGKILL at every write-audit-publish step).
# CI runs them after `make test`.
test-extended: $(STAMP) system-deps
	$(BIN)/python -m mlops_assets prepare-dbt
	bash deploy/lakefs/with_lakefs.sh --s3 $(BIN)/python -m pytest -n 2 --dist loadfile -m extended

# The dg project: every model's defs.yaml against its schema (one folder at a time: `dg check yaml`
# without a path validates only the last file of each component type), then the definitions load.
check-defs: $(STAMP)
	@$(BIN)/python -m mlops_assets prepare-instance > /dev/null
	@for model in mlops_assets/defs/models/*/; do \
		out=$$($(DG) check yaml "$$model" 2>&1) || { echo "$$out"; exit 1; }; done
	$(DG) check defs
	$(DG) list defs > /dev/null

lint: $(STAMP)
	$(BIN)/ruff check --quiet .
	$(BIN)/ruff format --check --quiet .

# The Dagster UI, the MLflow UI and the local store's objects (reports) beside it, over the same
# stores (127.0.0.1).
dev: $(STAMP)
	$(BIN)/python -m mlops_assets dev --port $${DAGSTER_PORT:-3000} --mlflow-port $${MLFLOW_PORT:-5000} \
		--store-port $${STORE_PORT:-3001}

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
