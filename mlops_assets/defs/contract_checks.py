"""Blocking contract checks that audit a materialization's WAP branch and publish it.

A check validates every table the run staged for its asset; if all pass it merges
the branch into main (publish), otherwise it fails, main stays as it was, and the
branch is kept for inspection. Run on its own (asset not materialized in this run),
it audits what is published on main and publishes nothing.
"""


import re
from typing import Any
from collections.abc import Callable
from datetime import date
from pathlib import Path

import dagster as dg
import pandera.polars as pa

from mlops_assets.lib.contracts import ContractReport, check_contract
from mlops_assets.lib.landing import landed_file
from mlops_assets.lib.versioned_store import MAIN
from mlops_assets.lib.versioned_store.wap import publish, publish_subset, read_table, staged_paths, wap_branch
from mlops_assets.resources import LandingZoneResource, VersionedStoreResource

ContractFactory = Callable[[date | None], pa.DataFrameSchema]
_PARTITION_IN_PATH = re.compile(r"/date=(\d{4}-\d{2}-\d{2})/")


def _partition_of(path: str) -> str | None:
    found = _PARTITION_IN_PATH.search(path)
    return found.group(1) if found else None


def _report_metadata(failed: list[ContractReport]) -> dict[str, Any]:
    examples = []
    for report in failed:
        assert report.examples is not None
        examples.extend({"subject": report.subject, **row} for row in report.examples.cast({"failure_case": str}).to_dicts())
    return {
        "failing_columns": dg.MetadataValue.json(sorted({c for r in failed for c in r.failing_columns})),
        "failure_count": float(sum(r.failure_count for r in failed)),
        "failure_cases": dg.MetadataValue.json(examples[:20]),
    }


def publishing_contract_check(
    asset_key: dg.AssetKey, contract: ContractFactory, landed_table: str | None = None
) -> dg.AssetChecksDefinition:
    """The blocking ``contract`` check of ``asset_key`` (publishes on success)."""
    label = asset_key.to_user_string()

    @dg.asset_check(
        asset=asset_key,
        name="contract",
        blocking=True,
        description=(
            f"Pandera contract of {label} (types, nullability, ranges, codes, unique key), run on what this "
            "run wrote; publishes it to main only if every partition passes."
        ),
    )
    def _contract(
        context: dg.AssetCheckExecutionContext, store: VersionedStoreResource, landing: LandingZoneResource
    ) -> dg.AssetCheckResult:
        versioned = store.open()
        branch = wap_branch(context.run.run_id, asset_key.path)
        staged = versioned.branch_exists(branch)
        ref = branch if staged else MAIN
        paths = (
            staged_paths(versioned, branch)
            if staged
            else [o.path for o in versioned.list_objects(MAIN, "/".join(asset_key.path) + "/")]
        )
        reports = []
        for path in paths:
            partition = _partition_of(path)
            subject = f"{label} partition {partition}" if partition else label
            if landed_table:
                try:
                    source = landed_file(Path(landing.directory), landed_table, partition)
                    subject += f" (file {source})"
                except Exception:  # the file may be gone since; the partition still names the data
                    pass
            schema = contract(date.fromisoformat(partition) if partition else None)
            reports.append(check_contract(read_table(versioned, ref, path), schema, subject))
        failed = [r for r in reports if not r.passed]
        rows = float(sum(r.rows for r in reports))
        if failed:
            message = " | ".join(r.message for r in failed)
            context.log.error(message)
            metadata = {**_report_metadata(failed), "rows_checked": rows, "kept_branch": branch if staged else ""}
            # The partitions that passed are published; the failed ones never reach main.
            passed_paths = [p for p, r in zip(paths, reports) if r.passed]
            if staged and passed_paths:
                main_commit = publish_subset(
                    versioned, branch, passed_paths,
                    message=f"Publish the {len(passed_paths)} audited partition(s) of {label} (run {context.run.run_id[:8]})",
                    metadata={"audited_by": f"{label}:contract", "dagster_run_id": context.run.run_id},
                )
                metadata.update(main_commit_id=main_commit)
            metadata.update(
                published_partitions=dg.MetadataValue.json(sorted(_partition_of(p) or "" for p in passed_paths) if staged else []),
                failed_partitions=dg.MetadataValue.json(sorted(_partition_of(p) or "" for p, r in zip(paths, reports) if not r.passed)),
                published=bool(staged and passed_paths),
            )
            return dg.AssetCheckResult(
                passed=False, severity=dg.AssetCheckSeverity.ERROR, description=message[:2000], metadata=metadata
            )
        metadata: dict[str, Any] = {"rows_checked": rows, "partitions_checked": float(len(reports))}
        if staged and not paths:
            versioned.delete_branch(branch)
            metadata.update(published=False, unchanged_from_main=True, main_commit_id=versioned.get_commit(MAIN).id)
        elif staged:
            head = versioned.get_commit(branch)
            main_commit = publish(
                versioned,
                branch,
                message=f"Publish {head.message}",
                metadata={**head.metadata, "audited_by": f"{label}:contract"},
            )
            metadata.update(published=True, main_commit_id=main_commit)
            commit_link = store.commit_url(versioned, main_commit)
            if commit_link:
                metadata["main_commit_url"] = dg.MetadataValue.url(commit_link)
        else:
            metadata.update(published=False, audited_ref=versioned.get_commit(MAIN).id)
        return dg.AssetCheckResult(passed=True, metadata=metadata)

    return _contract
