"""Blocking contract checks: Dagster's face of ``lib/audit.audit_and_publish``.

A check validates every table the run staged for its asset, a whole partition range in one
Pandera call, and merges the partitions that pass into main (publish); the failed ones never
reach main and the branch is kept for inspection. Run on its own (asset not materialized in
this run), it audits what is published on main and publishes nothing.

Data versions follow main: after the audit, the check records one more materialization per
partition, stamped with the checksum main holds for it. Automation that follows data versions
then sees exactly the days whose content changed on main; a day that failed keeps the version
main still holds, so nothing downstream starts for it.
"""

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg

from mlops_assets.lib.audit import Audit, ContractFactory, RowDay, audit_and_publish
from mlops_assets.lib.landing import landed_file
from mlops_assets.lib.versioned_store import MAIN, VersionedStore
from mlops_assets.lib.versioned_store.wap import partition_of, table_path, wap_branch
from mlops_assets.platform.partitions import DAILY
from mlops_assets.resources import LandingZoneResource, VersionedStoreResource
from mlops_assets.resources.io_manager import WITHHELD_KEY, main_versions

if TYPE_CHECKING:
    from mlops_assets.lib.contracts import ContractReport

# The tag a materialization's data version is stored under (Dagster's staleness and automation read
# it; ``MaterializeResult(data_version=...)`` writes it). A check has no ``data_version`` argument
# for the asset's partitions it publishes, so it logs materializations with the tag itself.
DATA_VERSION_TAG = "dagster/data_version"


def _report_metadata(failed: list["ContractReport"]) -> dict[str, Any]:
    examples = []
    for report in failed:
        if report.examples is not None:
            examples.extend(
                {"subject": report.subject, **row}
                for row in report.examples.cast({"failure_case": str}).to_dicts()
            )
        else:
            examples.append({"subject": report.subject, "failure_case": report.message})
    return {
        "failing_columns": dg.MetadataValue.json(sorted({c for r in failed for c in r.failing_columns})),
        "failure_count": float(sum(r.failure_count for r in failed)),
        "failure_cases": dg.MetadataValue.json(examples[:20]),
    }


def _run_partitions(context: dg.AssetCheckExecutionContext) -> list[str]:
    """The partition keys this run materializes (one, or a range), from its tags."""
    tags = context.run.tags
    if "dagster/partition" in tags:
        return [tags["dagster/partition"]]
    first, last = (
        tags.get("dagster/asset_partition_range_start"),
        tags.get("dagster/asset_partition_range_end"),
    )
    return DAILY.get_partition_keys_in_range(dg.PartitionKeyRange(first, last)) if first and last else []


def materialized_in_run(
    context: dg.AssetCheckExecutionContext, asset_key: dg.AssetKey, daily: bool
) -> dict[str | None, dict[str, Any]]:
    """Partition (None if unpartitioned) -> metadata of this run's materializations of ``asset_key``.

    One query on this asset's partitions of the run (not every event of a run that may hold
    many assets' years)."""
    days = _run_partitions(context) if daily else []
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=days or None), limit=2 * len(days) + 10
    ).records
    found: dict[str | None, dict[str, Any]] = {}
    for record in records:  # newest first
        if record.run_id == context.run.run_id and record.partition_key not in found:
            found[record.partition_key] = dict(record.asset_materialization.metadata)
    return found


def _record_publication(
    context: dg.AssetCheckExecutionContext,
    store: VersionedStore,
    asset_key: dg.AssetKey,
    materialized: dict[str | None, dict[str, Any]],
    failed: set[str | None],
) -> None:
    """One more materialization per partition of this run, stamped with what main now holds.

    The asset step's materialization carried main's version from before (its data was only
    staged). This one carries the checksum main holds after the audit: new for a published
    partition, unchanged for one that failed. Automation detects changes by materializations, so
    it sees exactly the days whose content changed on main, and nothing for data that never got
    there. It repeats the step's metadata, so the latest materialization in the UI says it all.
    """
    path = list(asset_key.path)
    recorded = main_versions(store, path)
    _log_versions(
        context,
        asset_key,
        [
            (
                partition,
                recorded.get(table_path(path, partition), ""),
                {**materialized[partition], "published": partition not in failed},
            )
            for partition in sorted(materialized, key=lambda p: p or "")
        ],
    )
    # Another run of the same partition may merge between our read of main and our event: its
    # event can then land before ours, and ours (stale) would be Dagster's last word. Events are
    # written when logged, so read main again: whatever moved since is recorded once more. The run
    # whose event is last read main after writing it, so the last recorded version is main's.
    for _ in range(_RECORD_ROUNDS):
        held = main_versions(store, path)
        moved = {
            p: held.get(table_path(path, p), "")
            for p in materialized
            if held.get(table_path(path, p), "") != recorded.get(table_path(path, p), "")
        }
        if not moved:
            return
        in_order = sorted(moved.items(), key=lambda item: item[0] or "")
        for partition, _ in in_order:
            context.log.info(
                f"{asset_key.to_user_string()} {partition or ''}: main moved while this run recorded"
                " (another run published it); recording main's version"
            )
        _log_versions(
            context,
            asset_key,
            [
                (partition, version, {"published": False, "recorded_from_main": True})
                for partition, version in in_order
            ],
        )
        recorded = held
    context.log.warning(
        f"{asset_key.to_user_string()}: main kept moving while this run recorded its data versions "
        f"({_RECORD_ROUNDS} rounds); the runs that moved it record after it. If the data version "
        "shown differs from main's, re-run this check"
    )


_RECORD_ROUNDS = 10


def _log_versions(
    context: dg.AssetCheckExecutionContext,
    asset_key: dg.AssetKey,
    versions: list[tuple[str | None, str, dict[str, Any]]],
) -> None:
    """A materialization of ``asset_key`` per (partition, data version, metadata), through Dagster's
    public ``log_event``: one event-log write each, where an output's partition range is one batch
    (a year of raw + features: benchmarks/README.md, issue 32, with the upstream issue text)."""
    for partition, version, metadata in versions:
        context.op_execution_context.log_event(
            dg.AssetMaterialization(
                asset_key=asset_key, partition=partition, tags={DATA_VERSION_TAG: version}, metadata=metadata
            )
        )


def contract_result(
    context: dg.AssetCheckExecutionContext,
    store: VersionedStoreResource,
    landing: LandingZoneResource,
    asset_key: dg.AssetKey,
    contract: ContractFactory,
    landed_table: str | None = None,
    row_day: RowDay | None = None,
    reads_main: bool = False,
) -> tuple[dg.AssetCheckResult, Audit]:
    """Audit and publish this run's staging of ``asset_key`` (``lib/audit``), record on main's
    versions what it published, and say so as the check's result."""
    label = asset_key.to_user_string()
    versioned = store.open()
    if reads_main:  # the contract takes what main holds (the dimensions a daily table's codes must exist in)
        contract = partial(contract, versioned)
    run_id = context.run.run_id
    staged = versioned.branch_exists(wap_branch(run_id, asset_key.path))
    materialized = materialized_in_run(context, asset_key, daily=row_day is not None) if staged else {}

    def subject(partition: str | None) -> str:
        text = f"{label} partition {partition}" if partition else label
        if landed_table:
            try:
                text += f" (file {landed_file(Path(landing.directory), landed_table, partition)})"
            except Exception:  # the file may be gone since; the partition still names the data
                pass
        return text

    # Days the asset could not produce (an unreadable file, an unpublished input) fail here too.
    withheld = {p: m[WITHHELD_KEY].value for p, m in materialized.items() if p and WITHHELD_KEY in m}
    audit = audit_and_publish(versioned, list(asset_key.path), run_id, contract, subject, row_day, withheld)
    metadata: dict[str, Any] = {
        "rows_checked": float(audit.rows),
        "partitions_checked": float(len(audit.reports)),
    }
    if audit.main_commit:
        metadata["main_commit_id"] = audit.main_commit
    if audit.failed:
        context.log.error(audit.message)
        metadata.update(_report_metadata([audit.reports[p] for p in sorted(audit.failed, key=str)]))
        metadata.update(
            kept_branch=audit.branch if audit.staged else "",
            published_partitions=dg.MetadataValue.json(
                sorted(partition_of(p) or "" for p in audit.published_paths)
            ),
            failed_partitions=dg.MetadataValue.json(sorted(p or "" for p in audit.failed)),
            published=bool(audit.published_paths),
        )
    elif audit.unchanged:
        metadata.update(
            published=False, unchanged_from_main=True, main_commit_id=versioned.get_commit(MAIN).id
        )
    elif audit.staged:
        metadata["published"] = True
        commit_link = store.commit_url(versioned, audit.main_commit)
        if commit_link:
            metadata["main_commit_url"] = dg.MetadataValue.url(commit_link)
    else:
        metadata.update(published=False, audited_ref=versioned.get_commit(MAIN).id)
    _record_publication(context, versioned, asset_key, materialized, audit.failed)
    if audit.failed:
        result = dg.AssetCheckResult(
            check_name="contract",
            passed=False,
            severity=dg.AssetCheckSeverity.ERROR,
            description=audit.message[:2000],
            metadata=metadata,
        )
    else:
        result = dg.AssetCheckResult(check_name="contract", passed=True, metadata=metadata)
    return result, audit


def contract_description(asset_key: dg.AssetKey) -> str:
    return (
        f"Pandera contract of {asset_key.to_user_string()} (types, nullability, ranges, codes, unique key), run on "
        "what this run wrote; publishes the partitions that pass to main, never the ones that fail."
    )


def publishing_contract_check(
    asset_key: dg.AssetKey,
    contract: ContractFactory,
    landed_table: str | None = None,
    row_day: RowDay | None = None,
    reads_main: bool = False,
) -> dg.AssetChecksDefinition:
    """The blocking ``contract`` check of ``asset_key`` (publishes what passes); ``reads_main``: the
    contract factory takes the store (it reads main)."""

    @dg.asset_check(
        asset=asset_key, name="contract", blocking=True, description=contract_description(asset_key)
    )
    def _contract(
        context: dg.AssetCheckExecutionContext, store: VersionedStoreResource, landing: LandingZoneResource
    ) -> dg.AssetCheckResult:
        return contract_result(
            context, store, landing, asset_key, contract, landed_table, row_day, reads_main
        )[0]

    return _contract
