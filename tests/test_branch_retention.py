"""Retention of WAP branches runs by itself: a daily schedule launches the job that does what
``gc-branches`` does, with the same rules (issue 31)."""

from __future__ import annotations

import dagster as dg
import pytest

from mlops_assets.lib.versioned_store.wap import wap_branch
from tests.conftest import QUIET, add_run


def test_the_daily_schedule_requests_the_gc_branches_job(defs):
    schedule = defs.get_schedule_def("gc_branches_daily")
    assert schedule.job_name == "gc_branches"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    with dg.build_schedule_context(instance=dg.DagsterInstance.ephemeral()) as context:
        requests = schedule.evaluate_tick(context).run_requests
    assert [r.tags["mlops/trigger"] for r in requests] == ["gc_branches_schedule"]


def test_the_job_removes_only_branches_of_runs_seen_finished_past_the_retention(defs, instance, store):
    runs = {
        "old": add_run(instance, 9),
        "fresh": add_run(instance, 0.5),
        "running": add_run(instance, 9, finished=False),
        "unknown": "0f0e0d0c-0b0a-4908-8706-050403020100",
    }
    branch = {name: wap_branch(run_id, ["raw", "flights"]) for name, run_id in runs.items()}
    for name in branch.values():
        store.create_branch(name)

    result = defs.resolve_job_def("gc_branches").execute_in_process(instance=instance, run_config=QUIET)
    assert result.success
    assert {b.name for b in store.list_branches()} == {"main", *branch.values()} - {branch["old"]}
    [output] = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_OUTPUT]
    metadata = output.event_specific_data.metadata
    assert metadata["removed"].value == 1.0 and metadata["kept_unknown_run"].value == 1.0
    assert metadata["older_than_days"].value == 7.0  # MLOPS_BRANCH_RETENTION_DAYS's default


def test_the_job_refuses_a_retention_under_a_day(defs, instance, store):
    from mlops_assets.errors import RetentionError

    store.create_branch(wap_branch(add_run(instance, 9), ["raw", "flights"]))
    config = {"ops": {"remove_stale_wap_branches": {"config": {"older_than_days": 0.0}}}}
    with pytest.raises(RetentionError, match=r"older_than_days=0\.0: expected a number of days from 1"):
        defs.resolve_job_def("gc_branches").execute_in_process(instance=instance, run_config=config)
    assert len(store.list_branches()) == 2
