"""The UI's backfill path without a browser: the same GraphQL mutation the launch dialog sends.

Real webserver and daemon over a real state (tests/ui/conftest.py): three landed days of raw/flights
and raw/weather are backfilled, the daemon runs them, every day is published with its contract check
passed, and the single-run backfill policy makes the three days one run.
"""

from __future__ import annotations

import time

import dagster as dg
import pytest

from .conftest import BACKFILL_DAYS, RAW_DAILY, World

pytestmark = pytest.mark.slow
BACKFILL_TIMEOUT = 300

LAUNCH = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message stack }
    ... on InvalidStepError { invalidStepKey }
    ... on InvalidOutputError { stepKey invalidOutputName }
    ... on UnauthorizedError { message }
  }
}"""

BACKFILL_STATUS = """
query Backfill($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { id status numPartitions error { message } }
    ... on PythonError { message }
  }
}"""


def launch_backfill(world: World, keys: list[dg.AssetKey], start: str, end: str, title: str) -> str:
    params = {
        "partitionsByAssets": [
            {"assetKey": {"path": list(key.path)}, "partitions": {"range": {"start": start, "end": end}}}
            for key in keys
        ],
        "title": title,
    }
    result = world.graphql(LAUNCH, {"params": params})["launchPartitionBackfill"]
    assert result["__typename"] == "LaunchBackfillSuccess", result
    return result["backfillId"]


def wait_backfill(world: World, backfill_id: str, timeout: float = BACKFILL_TIMEOUT) -> dict:
    """Poll until the backfill leaves REQUESTED; fail with the daemon log's tail if it does not in time."""
    deadline = time.monotonic() + timeout
    backfill: dict = {}
    while time.monotonic() < deadline:
        backfill = world.graphql(BACKFILL_STATUS, {"id": backfill_id})["partitionBackfillOrError"]
        assert backfill["__typename"] == "PartitionBackfill", backfill
        if backfill["status"] not in ("REQUESTED", "CANCELING", "FAILING"):
            return backfill
        time.sleep(2)
    daemon_log = (world.logs / "daemon.log").read_text()[-3000:]
    pytest.fail(
        f"backfill {backfill_id} still {backfill.get('status')} after {timeout} s; daemon log:\n{daemon_log}"
    )


def backfill_runs(world: World, backfill_id: str) -> list[dg.DagsterRun]:
    return list(world.instance.get_runs(filters=dg.RunsFilter(tags={"dagster/backfill": backfill_id})))


def check_results(world: World, run_id: str, check: str) -> dict[str, bool]:
    """Outcome of every ``check`` evaluated in the run, by asset (a range run audits all its days at once)."""
    events = world.instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    outcome: dict[str, bool] = {}
    for event in events:
        evaluation = event.dagster_event.event_specific_data
        if evaluation.check_name == check:
            outcome[evaluation.asset_key.to_user_string()] = evaluation.passed
    return outcome


def test_backfill_over_three_landed_days_via_graphql(world: World):
    started = time.monotonic()
    for key in RAW_DAILY:
        assert world.materialized_partitions(key, BACKFILL_DAYS) == [], (
            "the backfill target is already published"
        )

    backfill_id = launch_backfill(
        world, RAW_DAILY, BACKFILL_DAYS[0], BACKFILL_DAYS[-1], "graphql 3-day backfill"
    )
    backfill = wait_backfill(world, backfill_id)
    assert backfill["status"] in ("COMPLETED", "COMPLETED_SUCCESS"), backfill

    for key in RAW_DAILY:
        assert world.materialized_partitions(key, BACKFILL_DAYS) == BACKFILL_DAYS, key.to_user_string()

    runs = backfill_runs(world, backfill_id)
    assert [r.status for r in runs] == [dg.DagsterRunStatus.SUCCESS], [(r.run_id, r.status) for r in runs]
    run = runs[0]
    # BackfillPolicy.single_run(): the three days of both assets in one run, as a partition range.
    assert run.tags.get("dagster/asset_partition_range_start") == BACKFILL_DAYS[0], run.tags
    assert run.tags.get("dagster/asset_partition_range_end") == BACKFILL_DAYS[-1], run.tags
    assert set(run.asset_selection or []) >= set(RAW_DAILY), run.asset_selection

    outcome = check_results(world, run.run_id, "contract")
    assert outcome == {key.to_user_string(): True for key in RAW_DAILY}, outcome
    # Nothing else ran: the sensors were stopped before the daemon started.
    others = [
        r
        for r in world.instance.get_runs()
        if r.tags.get("dagster/backfill") != backfill_id
        and r.status != dg.DagsterRunStatus.SUCCESS
        or r.tags.get("mlops/trigger")
    ]
    assert not others, [(r.run_id, r.tags.get("mlops/trigger"), r.status) for r in others]
    print(
        f"\n[ui] GraphQL backfill {backfill_id}: {backfill['status']}, run {run.run_id}, "
        f"{time.monotonic() - started:.1f} s"
    )
