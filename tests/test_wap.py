"""Write-audit-publish on the store: isolation, concurrency, conflicts, retention (no Dagster)."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import polars as pl
import pytest

from mlops_assets.lib.versioned_store import LocalStore
from mlops_assets.lib.versioned_store.wap import (
    RunState,
    content_hash,
    encode_table,
    publish,
    read_table,
    remove_stale_branches,
    stage,
    table_path,
    wap_branch,
)

ASSET = ["raw", "flights"]


def _objects(partition: str, value: int) -> dict[str, bytes]:
    return {table_path(ASSET, partition): encode_table(pl.DataFrame({"day": [partition], "value": [value]}))}


@pytest.fixture
def local(tmp_path) -> LocalStore:
    store = LocalStore(tmp_path / "store")
    store.ensure_repository()
    return store


def test_staged_data_is_invisible_on_main_until_published(local):
    branch = wap_branch("run-1", ASSET)
    main_before = local.get_branch("main").commit_id
    commit = stage(local, branch, _objects("2013-01-01", 1), "stage", {"dagster_run_id": "run-1"})
    assert local.get_branch("main").commit_id == main_before
    assert not local.object_exists("main", table_path(ASSET, "2013-01-01"))
    assert local.object_exists(branch, table_path(ASSET, "2013-01-01"))

    head = publish(local, branch, "publish", commit.metadata)
    assert read_table(local, "main", table_path(ASSET, "2013-01-01"))["value"].to_list() == [1]
    assert local.get_commit(head).metadata["dagster_run_id"] == "run-1"
    assert not local.branch_exists(branch)  # published branches are removed; failed ones are kept


def _publish_partition(root: str, partition: str, value: int) -> str:
    store = LocalStore(Path(root))
    branch = wap_branch(f"run-{partition}", ASSET)
    stage(store, branch, _objects(partition, value), f"stage {partition}", {})
    time.sleep(0.2)  # both branches exist before either merges: a real race on main
    return publish(store, branch, f"publish {partition}", {})


def test_two_processes_publishing_different_partitions_both_land(local):
    partitions = [f"2013-01-{d:02d}" for d in range(1, 5)]
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        heads = pool.starmap(_publish_partition, [(str(local.root), p, i) for i, p in enumerate(partitions)])
    assert len(set(heads)) == len(partitions)
    published = {o.path for o in local.list_objects("main", "raw/flights/")}
    assert published == {table_path(ASSET, p) for p in partitions}
    history = {c.id for c in local.log("main", limit=1000)}
    assert set(heads) <= history  # no publication lost


def test_same_partition_conflict_rebases_and_the_later_publication_wins(local):
    first, second = wap_branch("run-a", ASSET), wap_branch("run-b", ASSET)
    stage(local, first, _objects("2013-01-01", 1), "a", {})
    stage(local, second, _objects("2013-01-01", 2), "b", {})
    head_a = publish(local, first, "publish a", {})
    head_b = publish(local, second, "publish b", {})
    assert read_table(local, "main", table_path(ASSET, "2013-01-01"))["value"].to_list() == [2]
    history = [c.id for c in local.log("main", limit=100)]
    assert head_a in history and head_b in history
    # The value of a is still readable at its own commit: nothing was lost, only superseded.
    assert read_table(local, head_a, table_path(ASSET, "2013-01-01"))["value"].to_list() == [1]


def test_content_hash_depends_on_bytes_and_paths_only():
    assert content_hash(_objects("2013-01-01", 1)) == content_hash(_objects("2013-01-01", 1))
    assert content_hash(_objects("2013-01-01", 1)) != content_hash(_objects("2013-01-01", 2))
    assert content_hash(_objects("2013-01-01", 1)) != content_hash(_objects("2013-01-02", 1))


def _finished(started_at: float):
    return RunState(in_progress=False, started_at=started_at)


def test_retention_removes_only_old_unpublished_wap_branches_of_finished_runs(local):
    old_run, new_run = "0f0e0d0c-0b0a-4908-8706-0504030201aa", "0f0e0d0c-0b0a-4908-8706-0504030201bb"
    old, recent = wap_branch(old_run, ASSET), wap_branch(new_run, ASSET)
    t_old = stage(local, old, _objects("2013-01-01", 1), "old", {}).created_at
    t_new = t_old + 3 * 86400
    stage(local, recent, _objects("2013-01-02", 1), "new", {})
    local.create_branch("experiment")
    started = {old_run: _finished(t_old), new_run: _finished(t_new)}
    now = t_new + 7 * 86400
    # A retention that falls between the two runs' ages (8.5 days).
    cleanup = remove_stale_branches(local, older_than_days=8.5, now=now, run_state=started.get)
    assert [r.name for r in cleanup.removed] == [old]
    assert {b.name for b in local.list_branches()} == {"main", recent, "experiment"}


def test_a_branch_whose_run_is_not_seen_finished_is_never_removed(local):
    """Issue 31: a fresh branch of a run this instance does not know was removed (dated by main's head)."""
    unknown = wap_branch("0f0e0d0c-0b0a-4908-8706-050403020100", ASSET)
    nameless = "wap-not-a-run-raw-flights"
    stage(local, unknown, _objects("2013-01-01", 1), "unknown", {})
    local.create_branch(nameless)
    years_on = time.time() + 3 * 365 * 86400
    cleanup = remove_stale_branches(local, older_than_days=1, now=years_on, run_state=lambda _: None)
    assert cleanup.removed == []
    assert sorted(cleanup.unknown_run) == sorted([nameless, unknown])
    assert {unknown, nameless} <= {b.name for b in local.list_branches()}


@pytest.mark.parametrize("days", [-1.0, 0.0, 0.5, float("nan"), float("inf"), float("-inf"), 1e6])
def test_retention_refuses_an_age_that_is_negative_not_finite_or_under_the_minimum(local, days):
    """Issue 31: negative, NaN and infinite ages were accepted (0 or less removed every branch)."""
    from mlops_assets.errors import RetentionError

    branch = wap_branch("0f0e0d0c-0b0a-4908-8706-050403020100", ASSET)
    local.create_branch(branch)
    with pytest.raises(
        RetentionError, match=r"older_than_days=.*: expected a number of days from 1 .* to 3660"
    ):
        remove_stale_branches(local, days, run_state=lambda _: _finished(0.0))
    assert branch in {b.name for b in local.list_branches()}


def test_a_branch_is_as_old_as_its_run_and_only_a_finished_run_frees_its_branch(tmp_path, monkeypatch):
    """A WAP branch made today from a month-old main has a month-old head: it is aged by its run
    (the Dagster instance's record); never removed while its run is in progress, nor when the
    instance does not know its run."""
    import dagster as dg
    from dagster._core.storage.dagster_run import DagsterRun, DagsterRunStatus

    import mlops_assets.lib.versioned_store.local as local_module
    from mlops_assets.platform.resources import dagster_run_state

    month_ago = time.time() - 30 * 86400
    with monkeypatch.context() as clock:
        clock.setattr(local_module.time, "time", lambda: month_ago)
        local = LocalStore(tmp_path / "store")
        local.ensure_repository()
        seed = wap_branch("seed", ASSET)
        stage(local, seed, _objects("2013-01-01", 1), "seed", {})
        publish(local, seed, "publish seed", {})  # main's head is now a month old
    with dg.instance_for_test() as instance:
        running, succeeded, failed = (
            instance.add_run(DagsterRun(job_name="daily_assets", status=status)).run_id
            for status in (DagsterRunStatus.STARTED, DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE)
        )
        unknown = "0f0e0d0c-0b0a-4908-8706-050403020100"  # a run the instance no longer knows
        branch = {run: wap_branch(run, ASSET) for run in (running, succeeded, failed, unknown)}
        for name in branch.values():
            local.create_branch(name)  # made now from main's month-old head, nothing staged yet
        state = dagster_run_state(instance)

        today = remove_stale_branches(local, older_than_days=1, run_state=state)
        assert today.removed == []  # the runs started today; the unknown one cannot be seen finished
        assert today.in_progress == [branch[running]]
        assert today.unknown_run == [branch[unknown]]
        week_on = remove_stale_branches(
            local, older_than_days=1, now=time.time() + 7 * 86400, run_state=state
        )
        assert sorted(r.name for r in week_on.removed) == sorted([branch[succeeded], branch[failed]])
        assert all(6.9 < r.age_days < 7.1 for r in week_on.removed)
        assert week_on.in_progress == [branch[running]]
        assert week_on.unknown_run == [branch[unknown]]
    assert {b.name for b in local.list_branches()} == {"main", branch[running], branch[unknown]}


def test_wap_branch_names_are_ascii_as_lakefs_requires():
    """lakeFS's branch names are ASCII word characters and dashes; Python's \\w would let Unicode through."""
    from mlops_assets.lib.versioned_store.base import BRANCH_NAME
    from mlops_assets.lib.versioned_store.wap import wap_branch

    branch = wap_branch("3f2a-run", ["monitoring", "café_model", "daily_report"])
    assert BRANCH_NAME.match(branch) and branch.isascii()
    assert not BRANCH_NAME.match("café")
