"""The embedded Dagster instance: DAGSTER_HOME under the state directory, sqlite storage."""

from __future__ import annotations

import os
from pathlib import Path

from mlops_assets.settings import Settings

EMBEDDED_DAGSTER_YAML = """\
# Embedded instance written by `python -m mlops_assets prepare-instance` (sqlite under MLOPS_HOME).
telemetry:
  enabled: false
# Open-source Dagster evaluates FreshnessPolicy only with this (preview) switch.
freshness:
  enabled: true
run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
  config:
    max_concurrent_runs: 2
# The daemon fails a run that never starts or outlives max_runtime_seconds (the local launcher
# cannot see a run worker die; this is how such a run stops holding its slot), and retries once a
# run that failed for a reason other than its own steps (a crashed or killed worker). A run whose
# data failed a step or check is not retried: it would fail again the same way.
run_monitoring:
  enabled: true
  start_timeout_seconds: 180
  max_runtime_seconds: 21600
  poll_interval_seconds: 30
run_retries:
  enabled: true
  max_retries: 1
  retry_on_asset_or_op_failure: false
"""


def estimator_cache_dir(settings: Settings) -> Path:
    """Where the code location remembers the estimator configurations scikit-learn accepted."""
    return settings.home / "cache"


def prepare_instance(settings: Settings) -> Path:
    """Create DAGSTER_HOME with its dagster.yaml (kept if the user edited it) and point Dagster at it."""
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    estimator_cache_dir(settings).mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(EMBEDDED_DAGSTER_YAML)
    # Dagster itself reads DAGSTER_HOME; we only hand it the value settings decided.
    os.environ["DAGSTER_HOME"] = str(home)
    # Create the sqlite databases now, once: processes that first open a new instance at the same
    # time (concurrent runs) would race on its migrations.
    import dagster as dg

    dg.DagsterInstance.from_config(str(home)).dispose()
    return home
