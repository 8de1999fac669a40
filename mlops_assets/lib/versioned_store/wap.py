"""Write-audit-publish on any ``VersionedStore``, and Parquet tables as objects.

The unit of publication is one materialization: one asset's output in one run (its
partition, or its whole partition range). It is written to its own branch made from
main (``stage``), audited there by the asset's blocking checks, and merged into main
only if they pass (``publish``). A failed check, an exception or a killed process
leaves main as it was and the branch for inspection; ``remove_stale_branches`` cleans up.
"""

from __future__ import annotations

import hashlib
import io
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from mlops_assets.errors import MergeConflict, NothingToCommit, RetentionError
from mlops_assets.lib.lazy_polars import pl
from mlops_assets.lib.versioned_store.base import MAIN, Commit, VersionedStore

WAP_PREFIX = "wap-"
WAP_BRANCH_KEY = "mlops.wap_branch"  # commit metadata: which WAP branch made this commit
PUBLISH_ATTEMPTS = 5


def wap_branch(run_id: str, asset_path: Sequence[str]) -> str:
    """The branch of one materialization: named after the run and the asset, for inspection."""
    return re.sub(r"[^\w-]", "_", f"{WAP_PREFIX}{run_id}-{'-'.join(asset_path)}", flags=re.ASCII)


TABLE_FILE = "data.parquet"


def table_path(asset_path: Sequence[str], partition: str | None) -> str:
    """Where a table lives in the store: hive-style ``date=`` folders that DuckDB/dbt can glob."""
    return file_path(asset_path, partition, TABLE_FILE)


def file_path(asset_path: Sequence[str], partition: str | None, name: str) -> str:
    """Where a file published with a table lives (its HTML report): beside the table."""
    folder = "/".join(asset_path)
    return f"{folder}/date={partition}/{name}" if partition else f"{folder}/{name}"


def is_table(path: str) -> bool:
    return path.rsplit("/", 1)[-1] == TABLE_FILE


_PARTITION_IN_PATH = re.compile(r"/date=(\d{4}-\d{2}-\d{2})/")


def partition_of(path: str) -> str | None:
    """The partition a table path belongs to (``table_path``'s inverse); None if unpartitioned."""
    found = _PARTITION_IN_PATH.search(path)
    return found.group(1) if found else None


def published_partitions(store: VersionedStore, ref: str, asset_path: Sequence[str]) -> list[str]:
    """The partitions of an asset present at ``ref``, in order."""
    prefix = "/".join(asset_path) + "/date="
    return sorted({p for o in store.list_objects(ref, prefix) if (p := partition_of(o.path))})


def encode_table(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer, compression="zstd", statistics=True)
    return buffer.getvalue()


def decode_table(data: bytes) -> pl.DataFrame:
    return pl.read_parquet(io.BytesIO(data))


def content_hash(objects: Mapping[str, bytes]) -> str:
    """Hash of paths and bytes: equal data gives an equal hash (and so an unchanged data version)."""
    digest = hashlib.sha256()
    for path in sorted(objects):
        digest.update(path.encode())
        digest.update(hashlib.sha256(objects[path]).digest())
    return digest.hexdigest()


def stage(
    store: VersionedStore,
    branch: str,
    objects: Mapping[str, bytes],
    message: str,
    metadata: Mapping[str, str],
) -> Commit | None:
    """Write ``objects`` on a fresh branch from main and commit them there (nothing reaches main).

    Returns None when the objects are already on main byte for byte: there is nothing to publish.
    """
    if store.branch_exists(branch):
        store.delete_branch(branch)  # a retried step starts again from current main
    store.create_branch(branch, MAIN)
    for path, data in objects.items():
        store.write_object(branch, path, data)
    try:
        return store.commit(branch, message, {**metadata, WAP_BRANCH_KEY: branch})
    except NothingToCommit:
        return None


def staged_paths(store: VersionedStore, branch: str) -> list[str]:
    """The paths the branch's own commit wrote; none if it made no commit (data identical to main)."""
    head = store.get_commit(branch)
    if head.metadata.get(WAP_BRANCH_KEY) != branch:
        return []
    return [change.path for change in store.diff(head.parents[0], branch)]


def publish(store: VersionedStore, branch: str, message: str, metadata: Mapping[str, str]) -> str:
    """Merge an audited branch into main; return main's new head.

    If another run published the same paths meanwhile (a conflict), our objects are
    re-applied on top of the new main and merged again: the later materialization wins
    and both commits stay in main's history.
    """
    for attempt in range(PUBLISH_ATTEMPTS):
        try:
            head = store.merge(branch, MAIN, message, metadata)
        except MergeConflict:
            if attempt == PUBLISH_ATTEMPTS - 1:
                raise
            _rebase_on_main(store, branch)
            continue
        store.delete_branch(branch)
        return head
    raise AssertionError("unreachable")  # pragma: no cover


def publish_subset(
    store: VersionedStore, branch: str, paths: list[str], message: str, metadata: Mapping[str, str]
) -> str:
    """Publish only ``paths`` of a branch (the rest failed its audit); the branch itself is kept.

    The good partitions of a range reach readers; the bad ones stay on the kept branch for
    inspection. Returns main's head.
    """
    subset = f"{branch}-passed"
    if store.branch_exists(subset):
        store.delete_branch(subset)
    store.create_branch(subset, MAIN)
    for path in paths:
        store.write_object(subset, path, store.read_object(branch, path))
    try:
        store.commit(subset, message, {**metadata, WAP_BRANCH_KEY: subset, "mlops.subset_of": branch})
    except NothingToCommit:
        store.delete_branch(subset)
        return store.get_commit(MAIN).id
    return publish(store, subset, message, metadata)


def _rebase_on_main(store: VersionedStore, branch: str) -> None:
    head = store.get_commit(branch)
    objects = {path: store.read_object(branch, path) for path in staged_paths(store, branch)}
    rebased = f"{branch}-rebase"
    if store.branch_exists(rebased):
        store.delete_branch(rebased)
    store.create_branch(rebased, MAIN)
    for path, data in objects.items():
        store.write_object(rebased, path, data)
    store.commit(rebased, head.message, {**head.metadata, "rebased_from": head.id})
    # Move the rebased commit under the original name so callers keep one branch name.
    store.delete_branch(branch)
    store.create_branch(branch, rebased)
    store.delete_branch(rebased)


def read_table(store: VersionedStore, ref: str, path: str) -> pl.DataFrame:
    return decode_table(store.read_object(ref, path))


@dataclass(frozen=True)
class RemovedBranch:
    name: str
    age_days: float


@dataclass(frozen=True)
class RunState:
    """What the orchestrator knows of the run a WAP branch belongs to."""

    in_progress: bool
    started_at: float | None  # unix seconds; None if it never started


@dataclass(frozen=True)
class BranchCleanup:
    removed: list[RemovedBranch]
    in_progress: list[str]  # kept whatever their age: their run may still be writing
    unknown_run: list[str]  # kept: no finished run of this instance is seen to own them
    older_than_days: float


# A branch is removed one day after its run started at the earliest, whatever the retention asked:
# a failed run's branch stays for inspection, and a run that started seconds ago is never raced.
MIN_BRANCH_AGE_DAYS = 1.0
MAX_BRANCH_AGE_DAYS = 3660.0  # ten years: past it, the retention is a mistake


def checked_retention_days(days: float, source: str) -> float:
    """``days`` if it is a valid retention (finite, between the minimum and maximum age), else one
    clear error naming ``source`` (the setting, option or config field it came from)."""
    if not MIN_BRANCH_AGE_DAYS <= days <= MAX_BRANCH_AGE_DAYS:  # NaN fails this comparison too
        raise RetentionError(
            f"{source}={days!r}: expected a number of days from {MIN_BRANCH_AGE_DAYS:g} (the minimum age of a "
            f"WAP branch before it may be removed) to {MAX_BRANCH_AGE_DAYS:g}"
        )
    return float(days)


_RUN_OF_BRANCH = re.compile(
    rf"^{WAP_PREFIX}([0-9a-f]{{8}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{12}})-"
)


def run_of_branch(name: str) -> str | None:
    """The run id a WAP branch is named after (``wap_branch``), if it is one."""
    found = _RUN_OF_BRANCH.match(name)
    return found.group(1) if found else None


def remove_stale_branches(
    store: VersionedStore,
    older_than_days: float,
    *,
    run_state: Callable[[str], RunState | None],
    now: float | None = None,
) -> BranchCleanup:
    """Delete WAP branches (never published) whose run finished at least ``older_than_days`` ago.

    A branch is removed only when ``run_state`` (the Dagster instance) shows its run finished: a
    branch whose run is in progress, unknown to the instance (another instance's, or a record
    deleted) or not named after a run is kept and listed. It is as old as its run (when it
    started): its head commit may be a much older commit of main it was made from.
    """
    older_than_days = checked_retention_days(older_than_days, "older_than_days")
    now = time.time() if now is None else now
    removed, in_progress, unknown_run = [], [], []
    for branch in store.list_branches():
        if not branch.name.startswith(WAP_PREFIX):
            continue
        run_id = run_of_branch(branch.name)
        state = run_state(run_id) if run_id else None
        if state is None:
            unknown_run.append(branch.name)
            continue
        if state.in_progress:
            in_progress.append(branch.name)
            continue
        made_at = state.started_at or store.get_commit(branch.commit_id).created_at
        age_days = (now - made_at) / 86400
        if age_days >= older_than_days:
            store.delete_branch(branch.name)
            removed.append(RemovedBranch(branch.name, age_days))
    return BranchCleanup(removed, in_progress, unknown_run, older_than_days)
