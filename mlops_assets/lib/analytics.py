"""Plumbing of the dbt project (dbt_project/): manifest staleness, the dbt executable, and the
lock that lets one dbt run at a time write the warehouse."""

from __future__ import annotations

import fcntl
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mlops_assets.errors import MlopsError
from mlops_assets.lib.versioned_store import VersionedStore
from mlops_assets.lib.versioned_store.export import MirrorSync, sync_mirror

# What dbt parse reads: a manifest older than any of these is stale.
PROJECT_INPUTS = ("dbt_project.yml", "models", "macros", "tests", "analyses")


def manifest_is_stale(project_dir: Path, manifest: Path) -> bool:
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    for name in PROJECT_INPUTS:
        path = project_dir / name
        files = [path] if path.is_file() else (path.rglob("*") if path.is_dir() else [])
        if any(f.is_file() and f.stat().st_mtime > built for f in files):
            return True
    return False


def dbt_executable() -> str:
    """The dbt installed with this interpreter (a venv's bin/ need not be on PATH), else PATH's."""
    beside = Path(sys.executable).parent / "dbt"
    return str(beside) if beside.exists() else "dbt"


@contextmanager
def warehouse_lock(warehouse: Path, timeout_s: float = 1800.0, poll_s: float = 0.5) -> Iterator[float]:
    """Hold the warehouse for one dbt run (DuckDB has a single writer, and the mirror is shared).

    Dagster runs and the CLI take the same lock, so a second run waits instead of failing on
    DuckDB's file lock halfway through. Yields the seconds waited; raises after ``timeout_s``.
    """
    lock_path = warehouse.with_name(warehouse.name + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    with open(lock_path, "w") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() - began > timeout_s:
                    raise MlopsError(
                        f"{warehouse}: another dbt run has held the warehouse for over {timeout_s:.0f} s ({lock_path})"
                    ) from None
                time.sleep(poll_s)
        try:
            yield time.monotonic() - began
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def warehouse_with_mirror(
    store: VersionedStore, warehouse: Path, published_dir: Path
) -> Iterator[tuple[MirrorSync, float]]:
    """What every dbt run does first: hold the warehouse, then sync the mirror of main it reads.

    Yields the sync (its commit is what dbt reads) and the seconds waited for the lock.
    """
    with warehouse_lock(warehouse) as waited_s:
        yield sync_mirror(store, published_dir), waited_s
