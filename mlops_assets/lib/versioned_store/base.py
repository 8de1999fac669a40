"""The versioned-store interface: git-like semantics over objects (bytes at paths).

Two backends implement it: ``LocalStore`` (embedded default, on local disk)
and ``LakeFSStore`` (any lakeFS server, through the lakeFS SDK). Paths are
POSIX-style relative keys such as ``raw/flights/date=2013-01-01/data.parquet``.
A *ref* is a branch name or a commit id.
"""

from __future__ import annotations

import mimetypes
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import quote, urlencode

from mlops_assets.errors import StoreError

MAIN = "main"
# lakeFS's own rule for branch ids; the local backend enforces the same so both behave alike.
BRANCH_NAME = re.compile(r"^\w[-\w]*$", re.ASCII)  # lakeFS (Go) \w is ASCII; Python's is Unicode


def validate_branch_name(name: str) -> str:
    if not BRANCH_NAME.match(name):
        raise StoreError(
            f"invalid branch name {name!r}: expected letters, digits, '_' or '-', not starting with '-'"
        )
    return name


OBJECTS_ROUTE = "/api/v1/repositories/{repository}/refs/{ref}/objects"


def object_url(base_url: str, repository: str, ref: str, path: str) -> str:
    """lakeFS's route to one object at a ref, under ``base_url``: the same link for both backends
    (a lakeFS server, or the local store's browser, ``mlops_assets.store_browser``)."""
    route = OBJECTS_ROUTE.format(repository=quote(repository, safe=""), ref=quote(ref, safe=""))
    return f"{base_url.rstrip('/')}{route}?{urlencode({'path': path})}"


def content_type(path: str) -> str:
    """What an object is served as (``text/html`` for a report), from its name."""
    return mimetypes.guess_type(path)[0] or "application/octet-stream"


@dataclass(frozen=True)
class Commit:
    id: str
    message: str
    metadata: Mapping[str, str]
    parents: tuple[str, ...]
    created_at: float  # unix seconds


@dataclass(frozen=True)
class Branch:
    name: str
    commit_id: str


class ChangeType(StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"


@dataclass(frozen=True)
class Change:
    path: str
    type: ChangeType


@dataclass(frozen=True)
class ObjectInfo:
    path: str
    checksum: str
    size_bytes: int


@dataclass(frozen=True)
class StoreDescription:
    """What a store is, safe to print (never holds a secret)."""

    backend: str
    location: str
    repository: str
    extra: Mapping[str, str] = field(default_factory=dict)


class VersionedStore(ABC):
    """A repository of objects with branches, commits and merges.

    Semantics shared by every backend (the interface test suite pins them):
    - ``write_object`` stages a change on a branch; readers of that branch see it at once
      (like lakeFS's staging area), readers of other branches and of commits never do.
    - ``commit`` turns the staged changes into an immutable commit; ``NothingToCommit``
      if there are none.
    - ``merge`` is a three-way merge of committed state at path level; the same path
      changed on both sides is a ``MergeConflict``, otherwise a merge commit is made
      on the destination (with the source metadata) and its id returned.
    - A missing repository/branch/commit raises ``RefNotFound``/``RepositoryNotFound``,
      a missing object ``ObjectNotFound``.
    """

    @abstractmethod
    def describe(self) -> StoreDescription: ...

    @abstractmethod
    def ensure_repository(self) -> None:
        """Create the repository (with branch ``main``) if it does not exist."""

    @abstractmethod
    def create_branch(self, name: str, source_ref: str = MAIN) -> Branch: ...

    @abstractmethod
    def delete_branch(self, name: str) -> None: ...

    @abstractmethod
    def list_branches(self) -> list[Branch]: ...

    @abstractmethod
    def get_branch(self, name: str) -> Branch: ...

    @abstractmethod
    def write_object(self, branch: str, path: str, data: bytes) -> ObjectInfo: ...

    @abstractmethod
    def delete_object(self, branch: str, path: str) -> None: ...

    @abstractmethod
    def read_object(self, ref: str, path: str) -> bytes: ...

    @abstractmethod
    def stat_object(self, ref: str, path: str) -> ObjectInfo: ...

    @abstractmethod
    def list_objects(self, ref: str, prefix: str = "") -> list[ObjectInfo]:
        """Every object under ``prefix`` (recursive), sorted by path."""

    @abstractmethod
    def commit(self, branch: str, message: str, metadata: Mapping[str, str] | None = None) -> Commit: ...

    @abstractmethod
    def get_commit(self, ref: str) -> Commit:
        """The commit a ref points at (branch head, or the commit itself)."""

    @abstractmethod
    def log(self, ref: str, limit: int = 100) -> list[Commit]:
        """Commits reachable from ``ref``, newest first."""

    @abstractmethod
    def diff(self, left_ref: str, right_ref: str) -> list[Change]:
        """Committed changes that turn ``left_ref`` into ``right_ref``, sorted by path."""

    @abstractmethod
    def merge(
        self,
        source_ref: str,
        destination_branch: str,
        message: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        """Merge committed state of ``source_ref`` into ``destination_branch``; return the new head."""

    def object_exists(self, ref: str, path: str) -> bool:
        from mlops_assets.errors import ObjectNotFound

        try:
            self.stat_object(ref, path)
        except ObjectNotFound:
            return False
        return True

    def branch_exists(self, name: str) -> bool:
        from mlops_assets.errors import RefNotFound

        try:
            self.get_branch(name)
        except RefNotFound:
            return False
        return True
