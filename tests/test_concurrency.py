"""Real Dagster runs at once, in separate processes, on one instance and one versioned store.

On the local store and on lakeFS (the real server where there is one). Four runs of different days of the same assets all publish; two runs of the same day with
different deliveries both publish, main holds one of them whole (never a mix of the two), the
history keeps both commits, and the data version Dagster recorded last is what main holds.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from datetime import date

import dagster as dg
import polars as pl
import pytest

from mlops_assets.instance import prepare_instance
from mlops_assets.lib.landing import land_days
from mlops_assets.lib.versioned_store import LocalStore
from mlops_assets.lib.versioned_store.wap import encode_table, read_table, table_path
from mlops_assets.platform import contract_checks
from mlops_assets.platform.contract_checks import _record_publication
from mlops_assets.settings import load_settings
from tests.conftest import data_version

DRIVER = """
import sys

import dagster as dg

from mlops_assets.definitions import defs

day = sys.argv[1]
with dg.DagsterInstance.get() as instance:
    result = defs.resolve_job_def("raw_daily").execute_in_process(
        instance=instance, partition_key=day, raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}},
    )
print(result.run_id)
sys.exit(0 if result.success else 1)
"""
FLIGHTS = dg.AssetKey(["raw", "flights"])


def _start(day: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-W", "ignore", "-c", DRIVER, day],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(processes: list[subprocess.Popen]) -> list[str]:
    run_ids = []
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err[-3000:]
        run_ids.append(out.strip().splitlines()[-1])
    return run_ids


@pytest.mark.parametrize("backend", ["local", "lakefs"])
def test_concurrent_runs_publish_everything_once_and_never_mix(backend, tmp_path, monkeypatch, request):
    home = tmp_path / "mlops"
    lakefs: dict[str, str] = {}
    if backend == "lakefs":  # the real lakeFS where there is one: its merges race as production's do
        service = request.getfixturevalue("lakefs_service")
        repository, namespace = service.new_repository("concurrency")
        lakefs = service.environment(repository, namespace)
        store = service.store(repository, namespace)
        request.addfinalizer(lambda: service.delete_repository(repository))
    settings = load_settings({"MLOPS_HOME": str(home), **lakefs})
    if backend == "local":
        store = LocalStore(settings.local_store_dir)
    env = {
        **os.environ,
        "MLOPS_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "MLOPS_EXECUTOR": "in_process",
        **lakefs,
    }
    # The instance exists before runs do (`prepare-instance`, which `make dev` runs, creates its
    # databases: processes must not race on their migrations).
    monkeypatch.delenv("DAGSTER_HOME", raising=False)  # prepare_instance sets it; restored after
    prepare_instance(settings)
    days = ["2013-05-06", "2013-05-07", "2013-05-08", "2013-05-09"]
    land_days(settings.landing_dir, date(2013, 5, 6), date(2013, 5, 9))

    # Four days at once.
    _finish([_start(day, env) for day in days])
    assert {o.path for o in store.list_objects("main", "raw/flights/")} == {
        table_path(FLIGHTS.path, day) for day in days
    }

    # The same day at once, from two new deliveries that differ from main and from each other
    # (every flight of the day to ORD in one, to BOS in a second landing zone): each run reads its own.
    other = tmp_path / "landing-b"
    land_days(other, date(2013, 5, 9), date(2013, 5, 9))
    for landing, dest in ((settings.landing_dir, "ORD"), (other, "BOS")):
        changed = landing / "flights" / "2013-05-09.parquet"
        pl.read_parquet(changed).with_columns(pl.lit(dest).alias("dest")).write_parquet(changed)
    before = store.get_branch("main").commit_id
    run_ids = _finish(
        [_start("2013-05-09", env), _start("2013-05-09", {**env, "MLOPS_LANDING_DIR": str(other)})]
    )

    held = read_table(store, "main", table_path(FLIGHTS.path, "2013-05-09"))
    destinations = set(held["dest"].unique().to_list())
    assert destinations in ({"BOS"}, {"ORD"}), f"main holds one delivery whole, never a mix: {destinations}"
    new_commits = []
    for commit in store.log("main", limit=50):
        if commit.id == before:
            break
        new_commits.append(commit)
    publishers = {c.metadata.get("dagster_run_id") for c in new_commits}
    assert set(run_ids) <= publishers, "the history keeps both runs' commits"
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        checksum = store.stat_object("main", table_path(FLIGHTS.path, "2013-05-09")).checksum
        assert data_version(instance, FLIGHTS, "2013-05-09") == checksum


class _Recorder:
    """What ``_record_publication`` writes, in the order it is written: it writes a batch of
    events to the event log before it goes on (``contract_checks._log_versions``)."""

    def __init__(self, on_first_batch):
        self.events: list[tuple[str | None, str, dict]] = []  # (partition, data version, metadata)
        self._on_first_batch = on_first_batch
        self.log = logging.getLogger("record_publication")

    def log_versions(self, context, asset_key, versions) -> None:
        assert context is self and asset_key == FLIGHTS
        if self._on_first_batch is not None:
            hook, self._on_first_batch = self._on_first_batch, None
            hook()
        self.events.extend(versions)


def test_a_run_that_records_after_another_run_published_records_what_main_holds(tmp_path, monkeypatch):
    """The interleaving the real runs above can meet: run A reads main's version of a day, run B
    merges its own delivery of that day and records it, then A's event lands. Dagster's last word
    on the day must still be main's checksum, not A's stale read."""
    store = LocalStore(tmp_path / "store")
    store.ensure_repository()
    path = table_path(FLIGHTS.path, "2013-05-09")

    def deliver(dest: str) -> str:
        branch = f"delivery-{dest}"
        store.create_branch(branch)
        store.write_object(branch, path, encode_table(pl.DataFrame({"dest": [dest]})))
        store.commit(branch, f"deliver {dest}")
        store.merge(branch, "main")
        return store.stat_object("main", path).checksum

    deliver("ORD")  # run A's publication: main holds A's delivery when A reads it

    def run_b_publishes_and_records() -> None:
        recorder.events.append(("2013-05-09", deliver("BOS"), {}))

    recorder = _Recorder(on_first_batch=run_b_publishes_and_records)
    monkeypatch.setattr(contract_checks, "_log_versions", recorder.log_versions)
    _record_publication(recorder, store, FLIGHTS, {"2013-05-09": {"rows": 1.0}}, failed=set())

    held = store.stat_object("main", path).checksum
    assert recorder.events[-1][1] == held
    assert recorder.events[-1][2]["recorded_from_main"] is True
    assert len(recorder.events) == 3, "A's stale event, B's, and A's record of what main now holds"
