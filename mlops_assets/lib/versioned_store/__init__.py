"""Versioned storage: one interface, a local backend and a lakeFS backend."""

from mlops_assets.lib.versioned_store.base import (
    MAIN,
    Branch,
    Change,
    ChangeType,
    Commit,
    ObjectInfo,
    StoreDescription,
    VersionedStore,
)
from mlops_assets.lib.versioned_store.local import LocalStore

__all__ = [
    "MAIN",
    "Branch",
    "Change",
    "ChangeType",
    "Commit",
    "LocalStore",
    "ObjectInfo",
    "StoreDescription",
    "VersionedStore",
]
