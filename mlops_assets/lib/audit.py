"""Audit and publish: the "audit" and "publish" of write-audit-publish, without Dagster.

A run staged an asset's tables on its WAP branch. ``audit_and_publish`` validates every staged
table (a whole partition range in one Pandera call), merges the partitions that pass into main
and keeps the branch when any failed (the failed ones never reach main). With nothing staged it
audits what main holds and publishes nothing. Dagster's ``contract`` checks are thin wrappers
(``platform/contract_checks.py``); tests call this directly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mlops_assets.lib.tables import SourceTable
from mlops_assets.lib.versioned_store import MAIN, VersionedStore
from mlops_assets.lib.versioned_store.wap import (
    decode_table,
    is_table,
    partition_of,
    publish,
    publish_subset,
    staged_paths,
    wap_branch,
)

if TYPE_CHECKING:
    import pandera.polars as pa
    import polars as pl

    from mlops_assets.lib.contracts import ContractReport

# Built when the audit runs, so pandera is not imported when the code location loads.
ContractFactory = Callable[[], "pa.DataFrameSchema"]
# The column a row's day is reported on, and how to compute the day from the row. Given for the
# daily assets (each row pinned to its partition), not for unpartitioned ones.
RowDay = Callable[[], tuple[str, "pl.Expr"]]


@dataclass
class Audit:
    """What the audit found and what reached main."""

    staged: bool  # False: nothing was staged by this run; main was audited in place
    branch: str
    reports: dict[str | None, ContractReport]
    published_paths: list[str] = field(default_factory=list)
    main_commit: str | None = None  # main's head after publishing (None: nothing published)
    unchanged: bool = False  # staged, but identical to main: nothing to publish

    @property
    def failed(self) -> set[str | None]:
        return {p for p, r in self.reports.items() if not r.passed}

    @property
    def passed(self) -> bool:
        return not self.failed

    @property
    def message(self) -> str:
        return " | ".join(self.reports[p].message for p in sorted(self.failed, key=str))

    @property
    def rows(self) -> int:
        return sum(r.rows for r in self.reports.values())


def dimension_codes(store: VersionedStore, table: SourceTable) -> dict[str, frozenset[str]]:
    """The keys on main of the dimensions ``table`` references (``"airports.faa"`` -> codes); a
    dimension not yet published on main is absent (its references are then not judged)."""
    from mlops_assets.lib.versioned_store.wap import read_table, table_path

    codes: dict[str, frozenset[str]] = {}
    for ref in table.references:
        path = table_path(["raw", ref.dimension], None)
        name = f"{ref.dimension}.{ref.key}"
        if name not in codes and store.object_exists(MAIN, path):
            codes[name] = frozenset(read_table(store, MAIN, path)[ref.key].drop_nulls().to_list())
    return codes


def audit_and_publish(
    store: VersionedStore,
    asset_path: list[str],
    run_id: str,
    contract: ContractFactory,
    subject: Callable[[str | None], str],
    row_day: RowDay | None = None,
    withheld: Mapping[str, str] | None = None,
) -> Audit:
    """Audit what ``run_id`` staged for ``asset_path`` and publish the partitions that pass.

    ``withheld``: partitions the run could not produce (an unreadable file, an unpublished input)
    and why; they fail the audit too. ``subject`` names a partition in error messages.
    """
    from mlops_assets.lib.contracts import ContractReport, check_contract, check_partitions

    label = "/".join(asset_path)
    branch = wap_branch(run_id, asset_path)
    staged = store.branch_exists(branch)
    ref = branch if staged else MAIN
    paths = staged_paths(store, branch) if staged else [o.path for o in store.list_objects(MAIN, label + "/")]
    # Files published with a table (its HTML report) follow their partition's verdict.
    tables = {partition_of(p): decode_table(store.read_object(ref, p)) for p in paths if is_table(p)}
    schema = contract()
    if None in tables:
        reports = {None: check_contract(tables[None], schema, subject(None))}
    else:
        day_column, day_of_row = row_day() if row_day else (None, None)
        reports = check_partitions(tables, schema, subject, day_column, day_of_row)
    for partition, reason in (withheld or {}).items():
        reports[partition] = ContractReport.withheld(subject(partition), reason)
    audit = Audit(staged=staged, branch=branch, reports=reports)
    if not staged:
        return audit
    passed_paths = [p for p in paths if partition_of(p) not in audit.failed]
    if audit.failed:
        if passed_paths:
            audit.main_commit = publish_subset(
                store,
                branch,
                passed_paths,
                message=f"Publish the {len(passed_paths)} audited partition(s) of {label} (run {run_id[:8]})",
                metadata={"audited_by": f"{label}:contract", "dagster_run_id": run_id},
            )
            audit.published_paths = passed_paths
        return audit
    if not paths:
        store.delete_branch(branch)
        audit.unchanged = True
        return audit
    head = store.get_commit(branch)
    audit.main_commit = publish(
        store,
        branch,
        message=f"Publish {head.message}",
        metadata={**head.metadata, "audited_by": f"{label}:contract"},
    )
    audit.published_paths = passed_paths
    return audit
