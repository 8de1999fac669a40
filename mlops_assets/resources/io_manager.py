"""The single place that knows where asset values live: Parquet in the versioned store.

Writing stages the output on the materialization's WAP branch (nothing reaches main);
the asset's blocking contract check publishes it. Reading takes main (or a pinned
commit), resolved once per load so every partition comes from the same commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import dagster as dg

from mlops_assets.errors import ObjectNotFound, StoreError
from mlops_assets.lib.lazy_polars import pl
from mlops_assets.lib.versioned_store import MAIN, VersionedStore
from mlops_assets.lib.versioned_store.wap import (
    content_hash,
    encode_table,
    file_path,
    read_table,
    stage,
    table_path,
    wap_branch,
)
from mlops_assets.resources.store import VersionedStoreResource

PINNED_REF_KEY = "mlops/ref"  # input metadata: read upstream at this ref instead of main
ALLOW_MISSING_PARTITIONS = "allow_missing_partitions"  # input metadata: skip unpublished partitions
WITHHELD_KEY = "withheld"  # partition metadata: why this partition was not produced


@dataclass(frozen=True)
class WithFiles:
    """A table and files published with it (a self-contained HTML report).

    ``files`` maps a metadata key to (file name, bytes). Each file is staged beside the table,
    audited with it (it follows its partition's verdict) and published in the same merge; the
    partition's metadata links it under its key, as an object of the versioned store at the
    staging commit, so the link outlives every pod and never changes under the reader.
    """

    table: pl.DataFrame
    files: Mapping[str, tuple[str, bytes]]


@dataclass(frozen=True)
class Withheld:
    """A partition of a range that could not be produced (unreadable file, unpublished input).

    Nothing is staged for it; the contract check fails that partition alone and names the
    reason, while the rest of the range is audited and published.
    """

    reason: str


def _asset_label(path: list[str] | tuple[str, ...]) -> str:
    return "/".join(path)


def read_partitions(
    store: VersionedStore,
    asset_path: list[str],
    partitions: list[str | None],
    ref: str = MAIN,
    allow_missing: bool = False,
) -> tuple[str, dict[str | None, pl.DataFrame]]:
    """Tables of ``partitions`` at one commit of ``ref``; returns (commit id, tables)."""
    commit_id = store.get_commit(ref).id
    tables = {}
    for partition in partitions:
        path = table_path(asset_path, partition)
        try:
            tables[partition] = read_table(store, commit_id, path)
        except ObjectNotFound:
            if allow_missing:
                continue
            what = f"partition {partition}" if partition else "its value"
            raise ObjectNotFound(
                f"{_asset_label(asset_path)} {what} is not published at {ref!r} (commit {commit_id[:12]}): "
                f"expected {path}; materialize it first"
            ) from None
    return commit_id, tables


def withhold(partition_keys: list[str], reason: str) -> Withheld:
    """A partition that cannot be produced: in a range it is withheld (it fails alone, in the
    contract check, and the others are published); asked for alone, it fails the step at once."""
    if len(partition_keys) == 1:
        raise ObjectNotFound(f"{reason}; materialize it first")
    return Withheld(reason)


def main_versions(store: VersionedStore, asset_path: list[str]) -> dict[str, str]:
    """Path -> checksum of every object of an asset on main: its data version per partition."""
    return {o.path: o.checksum for o in store.list_objects(MAIN, "/".join(asset_path) + "/")}


class VersionedParquetIOManager(dg.ConfigurableIOManager):
    """Partitioned assets return ``{partition_key: DataFrame}``; others a DataFrame."""

    store: VersionedStoreResource

    def handle_output(
        self,
        context: dg.OutputContext,
        obj: pl.DataFrame | WithFiles | dict[str, pl.DataFrame | WithFiles | Withheld],
    ) -> None:
        asset_path = list(context.asset_key.path)
        label = _asset_label(asset_path)
        if context.has_asset_partitions:
            expected = set(context.asset_partition_keys)
            if not isinstance(obj, dict) or set(obj) != expected:
                got = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
                raise StoreError(f"{label}: expected one table per partition {sorted(expected)}, got {got}")
            outputs: dict[str | None, pl.DataFrame | WithFiles | Withheld] = dict(sorted(obj.items()))
        else:
            outputs = {None: obj}
        produced = {p: t for p, t in outputs.items() if not isinstance(t, Withheld)}
        tables = {p: t.table if isinstance(t, WithFiles) else t for p, t in produced.items()}
        files = {
            p: {key: (file_path(asset_path, p, name), data) for key, (name, data) in t.files.items()}
            for p, t in produced.items()
            if isinstance(t, WithFiles)
        }
        objects_by_partition = {p: {table_path(asset_path, p): encode_table(t)} for p, t in tables.items()}
        # The content hash (and so "unchanged") is the table's; a re-rendered page alone changes nothing.
        objects = {path: data for by_path in objects_by_partition.values() for path, data in by_path.items()}
        data_hash = content_hash(objects)
        staged_objects = {**objects, **{path: data for own in files.values() for path, data in own.values()}}
        store = self.store.open()
        branch = wap_branch(context.run_id, asset_path)
        partitions = [p for p in outputs if p]
        span = (
            f"{partitions[0]}..{partitions[-1]}"
            if len(partitions) > 1
            else (partitions[0] if partitions else "")
        )
        commit = stage(
            store,
            branch,
            staged_objects,
            message=f"{label} {span}".strip() + f" (run {context.run_id[:8]})",
            metadata={
                "dagster_run_id": context.run_id,
                "dagster_run_url": self.store.run_url(context.run_id),
                "asset_key": label,
                "partitions": span,
                "content_hash": data_hash,
            },
        )
        rows = sum(t.height for t in tables.values())
        # No commit: main already holds these bytes, so the data is the commit main is at.
        commit_id = commit.id if commit else store.get_commit(MAIN).id
        metadata: dict[str, Any] = {
            "dagster/row_count": rows,
            "rows": float(rows),
            "store_backend": store.describe().backend,
            "wap_branch": branch,
            "branch_commit_id": commit_id,
            "unchanged_from_main": commit is None,
        }
        if len(objects) <= 10:
            metadata["paths"] = dg.MetadataValue.json(sorted(objects))
        commit_link = self.store.commit_url(store, commit_id)
        if commit_link:
            metadata["branch_commit_url"] = dg.MetadataValue.url(commit_link)
        context.add_output_metadata(metadata)
        for partition, output in outputs.items():
            # Each partition's own content hash and row count, for the UI (its data version is main's checksum).
            own: dict[str, Any]
            if isinstance(output, Withheld):
                own = {"dagster/row_count": 0, "rows": 0.0, WITHHELD_KEY: output.reason, "content_hash": ""}
            else:
                own = {
                    "dagster/row_count": tables[partition].height,
                    "rows": float(tables[partition].height),
                    "content_hash": content_hash(objects_by_partition[partition]),
                    **{
                        key: dg.MetadataValue.url(self.store.object_url(store, commit_id, path))
                        for key, (path, _) in files.get(partition, {}).items()
                    },
                }
            if partition is None:
                context.add_output_metadata({k: v for k, v in own.items() if k not in metadata})
            else:
                context.step_context.add_asset_metadata(
                    own, asset_key=context.asset_key, partition_key=partition
                )
        # The data version is what main holds: staging changes nothing there yet. The contract check
        # records each partition's new version once it has published (or kept main as it was), so
        # automation that follows data versions never starts work for a day that failed its audit.
        # Dagster stamps one version on every partition of a range: there it is "" (no version).
        held = ""
        if len(outputs) == 1:
            (partition,) = outputs
            try:  # one stat of this partition, not a listing of the asset's whole history
                held = store.stat_object(MAIN, table_path(asset_path, partition)).checksum
            except ObjectNotFound:
                held = ""
        context.step_context.set_data_version(context.asset_key, dg.DataVersion(held))

    def load_input(self, context: dg.InputContext) -> pl.DataFrame | dict[str, pl.DataFrame]:
        asset_path = list(context.asset_key.path)
        ref = (context.definition_metadata or {}).get(PINNED_REF_KEY, MAIN)
        partitioned = context.has_asset_partitions
        partitions: list[str | None] = list(context.asset_partition_keys) if partitioned else [None]
        allow_missing = bool((context.definition_metadata or {}).get(ALLOW_MISSING_PARTITIONS))
        commit_id, tables = read_partitions(self.store.open(), asset_path, partitions, ref, allow_missing)
        context.log.debug(f"read {_asset_label(asset_path)} at {ref} (commit {commit_id[:12]})")
        return tables if partitioned else tables[None]
