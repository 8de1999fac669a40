"""The embedded Dagster instance: DAGSTER_HOME under the state directory, sqlite storage."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from mlops_assets.settings import Settings

EMBEDDED_DAGSTER_YAML = """\
# Embedded instance written by `python -m mlops_assets prepare-instance` (sqlite under MLOPS_HOME).
telemetry:
  enabled: false
# Dagster's sqlite event log with its connections kept open (mlops_assets/embedded/event_log_storage.py):
# the same files and schema, about 5x faster a write, which is what a year of partitions costs.
event_log_storage:
  module: mlops_assets.embedded.event_log_storage
  class: PooledSqliteEventLogStorage
run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
  config:
    max_concurrent_runs: 2
# Dagster's launcher (run workers are processes of the code server), plus a health check the run
# monitor calls: it finds the run worker's pid in the run's events and watches that process.
run_launcher:
  module: mlops_assets.embedded.run_launcher
  class: LocalRunLauncher
# The daemon fails a run whose worker died (checked every poll; a local worker cannot be resumed)
# or that never starts, stops one that outlives max_runtime_seconds, and retries once a run that
# failed for a reason other than its own steps (a crashed or killed worker). A run whose data failed
# a step or check is not retried: it would fail again the same way.
run_monitoring:
  enabled: true
  start_timeout_seconds: 180
  max_runtime_seconds: 21600
  max_resume_run_attempts: 0
  poll_interval_seconds: 10
run_retries:
  enabled: true
  max_retries: 1
  retry_on_asset_or_op_failure: false
"""
# sha256 of the dagster.yaml earlier versions wrote: left unedited, it is replaced by today's.
EARLIER_EMBEDDED_DAGSTER_YAMLS = frozenset(
    {
        "2708327489e7273416bf72065e8bd49f010e764eba78ccdca9c50fc4daa9c4c9",
        "725f0237aaf6960417c78b4ec12132113092bfad908122c72e5ac471804511b0",
        "a0914340c9ff728e65bae76781f34474f62e08a9b6b177ae4ca06b2f4c08056c",
        "124b6e056babbef74dcf343b69e7cc3af9e592b9e7f7a2b37d00595bee00c7a4",
        "cbea13c44509902abb216f18d45bf53dd9b6d8f8a4d29f857d226e9a55c91d5f",
        "8e9dc3724095df70db0704d5170f6214e1f47f0dff139303fa007d765718afcb",
        "f512a247a9f0ddb7968b8b40713e8f9e9b17398893c66d6cc0d81c724d2b8f76",
        "0f8a6e0333fbef92b14b53a510c4b2a8a4941e9c7b0e3986bf1a1144e4e153ff",
    }
)


def estimator_cache_dir(settings: Settings) -> Path:
    """Where the code location remembers the estimator configurations scikit-learn accepted."""
    return settings.home / "cache"


def prepare_instance(settings: Settings) -> Path:
    """Create DAGSTER_HOME with its dagster.yaml (kept if the user edited it) and point Dagster at it."""
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    estimator_cache_dir(settings).mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists() or _written_by_an_earlier_version(config):
        config.write_text(EMBEDDED_DAGSTER_YAML)
    # Dagster itself reads DAGSTER_HOME; we only hand it the value settings decided.
    os.environ["DAGSTER_HOME"] = str(home)
    # Create the sqlite databases now, once: processes that first open a new instance at the same
    # time (concurrent runs) would race on its migrations.
    import dagster as dg

    dg.DagsterInstance.from_config(str(home)).dispose()
    return home


def _written_by_an_earlier_version(config: Path) -> bool:
    return hashlib.sha256(config.read_bytes()).hexdigest() in EARLIER_EMBEDDED_DAGSTER_YAMLS
