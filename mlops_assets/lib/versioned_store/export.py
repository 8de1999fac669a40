"""A plain-directory mirror of one commit of main, for tools that read files (DuckDB, dbt).

The store's own layout (content-addressed blobs, or lakeFS) is not something a SQL engine can
glob, so readers get a mirror at the same hive paths (``predictions/<spec>/date=…/data.parquet``).
The mirror is synced incrementally by checksum: only changed objects are copied (or
downloaded), objects gone from the commit are removed, and each file is written to a
temporary name and renamed, so a reader never sees half a file. ``_mirror.json`` records the
commit the directory holds.

Object keys are free-form (lakeFS accepts ``a/../../x``); a key whose file would land outside the
directory is refused before anything is written.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from mlops_assets.errors import MirrorPathError, StoreError
from mlops_assets.lib.versioned_store.base import MAIN, VersionedStore
from mlops_assets.lib.versioned_store.wap import is_table

MANIFEST = "_mirror.json"


@dataclass(frozen=True)
class MirrorSync:
    commit_id: str
    objects: int
    copied: int
    removed: int


def mirrored_commit(directory: Path) -> str | None:
    """The commit a mirror directory holds, or None if it was never synced."""
    manifest = Path(directory) / MANIFEST
    return json.loads(manifest.read_text())["commit_id"] if manifest.exists() else None


def sync_mirror(store: VersionedStore, directory: Path, ref: str = MAIN) -> MirrorSync:
    """Make ``directory`` hold exactly the objects of ``ref`` (resolved once to a commit)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    commit_id = store.get_commit(ref).id
    manifest_path = directory / MANIFEST
    try:
        previous: dict[str, str] = (
            json.loads(manifest_path.read_text())["objects"] if manifest_path.exists() else {}
        )
    except (ValueError, KeyError) as exc:
        raise StoreError(
            f"{manifest_path}: not a mirror manifest ({exc}); delete the directory to rebuild it"
        ) from None
    # Tables only: the pages published beside them (reports) are for people, not SQL.
    wanted = {info.path: info.checksum for info in store.list_objects(commit_id) if is_table(info.path)}
    # Every key is checked before the first write: a refused sync leaves the mirror as it was.
    targets = {path: mirror_path(directory, path) for path in sorted({*wanted, *previous})}
    copied = 0
    for path, checksum in wanted.items():
        target = targets[path]
        if previous.get(path) == checksum and target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        partial.write_bytes(store.read_object(commit_id, path))
        os.replace(partial, target)
        copied += 1
    removed = 0
    for path in sorted(set(previous) - set(wanted)):
        target = targets[path]
        if target.exists():
            target.unlink()
            removed += 1
        _prune_empty_parents(target.parent, directory)
    partial_manifest = manifest_path.with_name(f".{MANIFEST}.partial")
    partial_manifest.write_text(json.dumps({"commit_id": commit_id, "objects": wanted}, sort_keys=True))
    os.replace(partial_manifest, manifest_path)
    return MirrorSync(commit_id=commit_id, objects=len(wanted), copied=copied, removed=removed)


def mirror_path(directory: Path, key: str) -> Path:
    """Where object ``key`` lives in the mirror; refused if it resolves outside ``directory``
    (``..``, an absolute key, or a symlink in the mirror pointing elsewhere)."""
    root = Path(directory).resolve()
    target = (root / key).resolve()
    if not target.is_relative_to(root) or target == root or target == root / MANIFEST:
        raise MirrorPathError(
            f"object key {key!r} would be mirrored at {target}, outside the mirror {root}: refused, "
            "nothing was written; a key must name a file under the mirror (no '..', not absolute)"
        )
    # As spelled under ``directory``: pruning empty folders stops at ``directory`` as the caller spelled it.
    return Path(directory) / key


def _prune_empty_parents(folder: Path, root: Path) -> None:
    while folder != root and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent
