"""Automation conditions: why each asset is (re)materialized without anyone launching it.

``eager()`` looks only at the latest time partition, so a day that lands late, or a range
that is backfilled upstream, would never flow downstream (dagster issue #24474). Our daily
assets use the same logic over every partition.
"""

import dagster as dg

AC = dg.AutomationCondition


def every_partition_eager(
    ignore_updates_of: dg.AssetSelection | None = None, ignore_missing: dg.AssetSelection | None = None
) -> dg.AutomationCondition:
    """Request a partition when it is missing or an upstream partition it reads was updated,
    once its upstream partitions exist and nothing upstream or itself is in progress.

    ``ignore_updates_of``: upstreams whose updates must not trigger (a new model version must
    not rescore history). ``ignore_missing``: upstreams that may be missing (tomorrow's labels).
    """
    updated = AC.any_deps_updated() if ignore_updates_of is None else AC.any_deps_updated().ignore(ignore_updates_of)
    missing = AC.any_deps_missing() if ignore_missing is None else AC.any_deps_missing().ignore(ignore_missing)
    return (
        (AC.newly_missing() | updated).since_last_handled()
        & ~missing
        & ~AC.any_deps_in_progress()
        & ~AC.in_progress()
    ).with_label("eager over every partition")


def retrain_on_code_change() -> dg.AutomationCondition:
    """A changed spec or training code (the asset's code_version) retrains once, never concurrently."""
    return (
        AC.code_version_changed().since_last_handled() & ~AC.missing() & ~AC.in_progress()
    ).with_label("retrain on spec/code change")


def summary_follows_reports() -> dg.AutomationCondition:
    return (
        AC.any_deps_updated().since_last_handled() & ~AC.any_deps_in_progress() & ~AC.in_progress()
    ).with_label("recompute when a report is published")
