"""Automation conditions: why each asset is (re)materialized without anyone launching it.

``eager()`` looks only at the latest time partition, so a day that lands late, or a range
that is backfilled upstream, would never flow downstream (dagster issue #24474). Our daily
assets use the same logic over every partition.
"""

import dagster as dg

AC = dg.AutomationCondition


def deps_changed(ignore_updates_of: dg.AssetSelection | None = None) -> dg.AutomationCondition:
    """A dependency partition this partition reads has new content on main, or is requested now.

    Data versions follow main (the contract check records them after publishing), so a re-delivered
    file with identical bytes, or a day that failed its audit, changes nothing downstream.
    """
    changed = AC.any_deps_match(AC.data_version_changed() | AC.will_be_requested())
    return (changed if ignore_updates_of is None else changed.ignore(ignore_updates_of)).with_label(
        "any dependency's data changed"
    )


def every_partition_eager(
    ignore_updates_of: dg.AssetSelection | None = None, ignore_missing: dg.AssetSelection | None = None
) -> dg.AutomationCondition:
    """Request a partition when the content of a dependency partition it reads changed on main, once
    its dependencies exist and nothing upstream or itself is in progress; over every partition.

    ``ignore_updates_of``: upstreams whose changes must not trigger (a new model version must not
    rescore history; a dimension refresh must not recompute the year). ``ignore_missing``:
    upstreams that may be missing (tomorrow's labels). A partition that was never computed and
    whose inputs did not change is not requested: backfills of history are deliberate.
    """
    missing = (
        AC.any_deps_missing() if ignore_missing is None else AC.any_deps_missing().ignore(ignore_missing)
    )
    # "Missing" is judged when the change happens: history that changed before a model existed is
    # not remembered and scored the moment the model appears (serve_new_models decides that).
    # No "upstream in progress" guard: a change is seen only once upstream's audit has published
    # it, and every node of the condition costs each tick, once per dependency.
    return ((deps_changed(ignore_updates_of) & ~missing).since_last_handled() & ~AC.in_progress()).with_label(
        "eager over every partition, on changed data"
    )


def gated_by(gate: dg.AssetSelection) -> dg.AutomationCondition:
    """For models fed by many assets (the dbt marts): a partition follows only its ``gate``
    dependencies (the day's monitoring reports), which change whenever anything the day's marts
    read has changed. Looking at every source of every model of every spec would make each tick
    cost grow with specs times marts."""
    changed = AC.any_deps_match(AC.data_version_changed() | AC.will_be_requested()).allow(gate)
    return (
        (
            changed.with_label("a gate dependency's data changed") & ~AC.any_deps_missing().allow(gate)
        ).since_last_handled()
        & ~AC.in_progress()
    ).with_label("eager over every partition, on changed gate data")


def retrain_on_code_change() -> dg.AutomationCondition:
    """A changed spec or training code (the asset's code_version) retrains once, never concurrently."""
    return (AC.code_version_changed().since_last_handled() & ~AC.missing() & ~AC.in_progress()).with_label(
        "retrain on spec/code change"
    )


def follows_deps(label: str = "recompute when a report changes on main") -> dg.AutomationCondition:
    """For the unpartitioned roll-ups (a summary over its reports, the overview over the summaries):
    recompute once when a dependency changed on main, after its runs finished (a range of reports
    publishes day after day in one check step)."""
    return (deps_changed().since_last_handled() & ~AC.any_deps_in_progress() & ~AC.in_progress()).with_label(
        label
    )


class DailyDepsPublished(dg.AutomationCondition):
    """True for the partitions whose every daily dependency holds data on main.

    A day that failed its contract was still materialized (Dagster records the attempt) but main
    does not hold it: its data version is empty. Work downstream of it would only fail again, so
    it waits until a delivery of that day is published. Arbitrary Python, so the sensor that
    evaluates it runs in the code location (see ``automation_sensors``).
    """

    def __repr__(self) -> str:  # stable in the graph snapshot
        return "DailyDepsPublished()"

    @property
    def name(self) -> str:
        return "daily_deps_published"

    @property
    def description(self) -> str:
        return "every daily dependency of the partition is published on main"

    def evaluate(self, context: dg.AutomationContext) -> dg.AutomationResult:
        days = set(context.candidate_subset.expensively_compute_partition_keys())
        storage = context.asset_graph_view.instance.event_log_storage
        for parent in context.asset_graph.get(context.key).parent_keys:
            if days and context.asset_graph.get(parent).partitions_def is not None:
                # Partitions whose latest data version is not empty (since the very first event).
                days &= set(
                    storage.get_updated_data_version_partitions(parent, sorted(days), since_storage_id=-1)
                )
        true_subset = context.asset_graph_view.get_subset_from_partition_keys(
            context.key, context.partitions_def, days
        )
        return dg.AutomationResult(context=context, true_subset=true_subset)
