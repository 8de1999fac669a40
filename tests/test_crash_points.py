"""SIGKILL at every step of write-audit-publish, in real Dagster runs, on both backends.

A child process materializes raw/flights and raw/weather for two days as a Dagster run on a
persistent instance, and is killed at one step: after staging writes, after the branch commit,
right before the merge, or after the merge (lakeFS applied it; the answer and the check's result
never got back). After each: main holds, per asset, either none of the run's days or all of them,
never a mix; a retry run publishes, exactly once per asset, and the data version Dagster records
for each day is the checksum main holds.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import dagster as dg
import pytest

from mlops_assets.definitions import build_definitions
from mlops_assets.instance import prepare_instance
from mlops_assets.lib.versioned_store import LocalStore
from mlops_assets.lib.versioned_store.wap import is_table, partition_of, read_table, table_path
from mlops_assets.settings import load_settings
from tests.conftest import PROJECT_ROOT, data_version, expected_rows, land, publications, run_daily
from tests.processes import kill_when_printed

pytestmark = pytest.mark.extended  # `make test-extended`, run by CI after `make test`

DAYS = ("2013-05-01", "2013-05-02")
ASSETS = (["raw", "flights"], ["raw", "weather"])
POINTS = ("staged", "committed", "merging", "merged")
CHILD = textwrap.dedent(
    f"""
    import sys, time, warnings
    warnings.simplefilter("ignore")
    import dagster as dg
    from mlops_assets.definitions import build_definitions
    from mlops_assets.lib.versioned_store.lakefs import LakeFSStore
    from mlops_assets.lib.versioned_store.local import LocalStore
    from mlops_assets.settings import load_settings

    point, writes = sys.argv[1], []

    def killed_here():
        print("KILL-POINT", point, flush=True)
        time.sleep(600)

    def patch(cls):
        write, commit, merge = cls.write_object, cls.commit, cls.merge

        def write_object(self, branch, path, data):
            info = write(self, branch, path, data)
            writes.append(path)
            if point == "staged" and len(writes) == 2:
                killed_here()
            return info

        def commit_on_branch(self, branch, message, metadata=None):
            made = commit(self, branch, message, metadata)
            if point == "committed" and branch.startswith("wap-"):
                killed_here()
            return made

        def merge_into(self, source, destination, message=None, metadata=None):
            if point == "merging":
                killed_here()
            head = merge(self, source, destination, message, metadata)
            if point == "merged":
                killed_here()
            return head

        cls.write_object, cls.commit, cls.merge = write_object, commit_on_branch, merge_into

    patch(LocalStore)
    patch(LakeFSStore)
    defs = build_definitions(load_settings())
    with dg.DagsterInstance.get() as instance:
        defs.resolve_job_def("raw_daily").execute_in_process(
            instance=instance,
            tags={{"dagster/asset_partition_range_start": "{DAYS[0]}", "dagster/asset_partition_range_end": "{DAYS[1]}"}},
            raise_on_error=False,
        )
    print("FINISHED", flush=True)
    """
)


@pytest.fixture(params=["local", "lakefs"])
def backend(request, tmp_path, monkeypatch):
    """Settings (as the child's environment) and the store, on one backend."""
    monkeypatch.delenv("DAGSTER_HOME", raising=False)  # prepare_instance sets it; restored after
    environ = {"MLOPS_HOME": str(tmp_path / "mlops")}
    if request.param == "local":
        settings = load_settings(environ)
        store = LocalStore(settings.local_store_dir)
        store.ensure_repository()
        yield environ, settings, store
        return
    lakefs_service = request.getfixturevalue("lakefs_service")  # real lakeFS where there is one
    repository, namespace = lakefs_service.new_repository("crash")
    environ |= lakefs_service.environment(repository, namespace)
    monkeypatch.setenv("LAKEFS_SECRET_ACCESS_KEY", lakefs_service.secret_access_key)  # read at run time
    settings = load_settings(environ)
    store = lakefs_service.store(repository, namespace)
    store.ensure_repository()
    yield environ, settings, store
    lakefs_service.delete_repository(repository)


def _days_on_main(store, asset: list[str]) -> set[str]:
    return {
        partition_of(o.path) for o in store.list_objects("main", "/".join(asset) + "/") if is_table(o.path)
    }


@pytest.mark.parametrize("point", POINTS)
def test_sigkill_at_each_wap_step_leaves_main_whole_and_the_retry_publishes_once(backend, point):
    environ, settings, store = backend
    land(settings, *DAYS)
    dagster_home = prepare_instance(settings)
    main_before = store.get_commit("main").id
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, point],
        cwd=PROJECT_ROOT,
        env={**os.environ, **environ, "DAGSTER_HOME": str(dagster_home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    line = kill_when_printed(child, "KILL-POINT")
    assert f"KILL-POINT {point}" in line, f"the run never reached {point!r}"

    # Main is the old state or, per asset, the whole new one: never some of the run's days.
    published = {"/".join(asset): _days_on_main(store, asset) for asset in ASSETS}
    assert all(days in (set(), set(DAYS)) for days in published.values()), published
    if point == "merged":
        assert sorted(len(days) for days in published.values()) == [
            0,
            len(DAYS),
        ]  # the first merge went through
    else:
        assert store.get_commit("main").id == main_before

    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        retry = run_daily(build_definitions(settings), instance, *DAYS)
        assert retry.success
        for asset in ASSETS:
            assert _days_on_main(store, asset) == set(DAYS)
            assert publications(store, asset) == 1, "published exactly once"
            for day in DAYS:
                held = store.stat_object("main", table_path(asset, day)).checksum
                assert data_version(instance, dg.AssetKey(asset), day) == held
    for day in DAYS:
        assert read_table(store, "main", table_path(ASSETS[0], day)).height == expected_rows("flights", day)
