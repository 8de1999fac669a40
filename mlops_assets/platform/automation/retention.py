"""Retention of unpublished WAP branches: a daily schedule, and ``gc-branches`` by hand, do the same.

A branch is removed only when this Dagster instance shows its run finished, at least the
retention ago (never less than ``MIN_BRANCH_AGE_DAYS``); every branch kept for want of a finished
run is listed, so an operator sees what retention could not judge.
"""

import dagster as dg

from mlops_assets.lib.versioned_store import VersionedStore
from mlops_assets.lib.versioned_store.wap import BranchCleanup, checked_retention_days, remove_stale_branches
from mlops_assets.platform.resources import dagster_run_state
from mlops_assets.platform.run_resources import run_tags
from mlops_assets.resources import VersionedStoreResource

GC_BRANCHES_JOB = "gc_branches"


def run_branch_cleanup(
    store: VersionedStore, instance: dg.DagsterInstance, older_than_days: float
) -> BranchCleanup:
    """Remove the WAP branches whose run ``instance`` shows finished at least ``older_than_days`` ago."""
    return remove_stale_branches(store, older_than_days, run_state=dagster_run_state(instance))


def report_cleanup(cleanup: BranchCleanup) -> list[str]:
    """One line per branch removed or kept, then the count: what the CLI prints and the run logs."""
    return [
        *(f"removed {b.name} ({b.age_days:.1f} days old)" for b in cleanup.removed),
        *(f"kept {name}: its run is in progress" for name in cleanup.in_progress),
        *(
            f"kept {name}: this Dagster instance does not know its run, so cannot see it finished"
            for name in cleanup.unknown_run
        ),
        f"removed {len(cleanup.removed)} unpublished WAP branch(es) of finished runs started "
        f"{cleanup.older_than_days:g}+ day(s) ago; kept {len(cleanup.in_progress)} of runs in progress "
        f"and {len(cleanup.unknown_run)} of unknown runs",
    ]


class BranchRetentionConfig(dg.Config):
    older_than_days: float


@dg.op(
    name="remove_stale_wap_branches",
    description=(
        "Removes the unpublished WAP branches whose Dagster run has finished and started at least older_than_days ago "
        "(1 day at the least); keeps, and lists, those of runs in progress or unknown to this instance."
    ),
)
def remove_stale_wap_branches(
    context: dg.OpExecutionContext, config: BranchRetentionConfig, store: VersionedStoreResource
) -> dg.Output[None]:
    days = checked_retention_days(config.older_than_days, "older_than_days")
    cleanup = run_branch_cleanup(store.open(), context.instance, days)
    for line in report_cleanup(cleanup):
        context.log.info(line)
    return dg.Output(
        None,
        metadata={
            "removed": float(len(cleanup.removed)),
            "kept_in_progress": float(len(cleanup.in_progress)),
            "kept_unknown_run": float(len(cleanup.unknown_run)),
            "older_than_days": float(days),
        },
    )


def build_gc_branches(older_than_days: float) -> tuple[dg.JobDefinition, dg.ScheduleDefinition]:
    """The job (launchable from the UI with another retention) and its daily schedule."""

    @dg.job(
        name=GC_BRANCHES_JOB,
        description=(
            "Retention of unpublished WAP branches (MLOPS_BRANCH_RETENTION_DAYS), as `python -m mlops_assets "
            "gc-branches` does: only branches whose run this instance shows finished are removed."
        ),
        config={"ops": {"remove_stale_wap_branches": {"config": {"older_than_days": older_than_days}}}},
        tags=run_tags("default"),
    )
    def gc_branches():
        remove_stale_wap_branches()

    schedule = dg.ScheduleDefinition(
        name="gc_branches_daily",
        job=gc_branches,
        cron_schedule="30 3 * * *",
        description="Runs gc_branches every day at 03:30 (retention of unpublished WAP branches).",
        tags={"mlops/trigger": "gc_branches_schedule"},
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
    return gc_branches, schedule
