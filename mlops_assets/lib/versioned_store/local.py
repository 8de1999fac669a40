"""The embedded versioned store: lakeFS semantics on the local disk, no server.

Layout under ``root/<repository>/``:
- ``objects/ab/cdef…``: content-addressed blobs (object data and directory trees),
  written to a temporary file and renamed into place, so a reader never sees half a blob.
- ``refs.sqlite3``: branches, staging areas and commits. Every ref update is one SQLite
  ``BEGIN IMMEDIATE`` transaction, so two processes can commit and merge at once and a
  killed process leaves either the old or the new state, never a mix.

Trees are hierarchical like git's: a commit that changes one partition rewrites only
the directories on that partition's path, so a year of daily partitions stays cheap.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import os
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from mlops_assets.errors import (
    BranchExists,
    MergeConflict,
    NothingToCommit,
    ObjectNotFound,
    RefNotFound,
    RepositoryNotFound,
    StoreError,
)
from mlops_assets.lib.versioned_store.base import (
    MAIN,
    Branch,
    Change,
    ChangeType,
    Commit,
    ObjectInfo,
    StoreDescription,
    VersionedStore,
    validate_branch_name,
)

# A tree entry: (object id, size) for a blob; a subtree is stored under "name/" keys.
Entry = tuple[str, int]
_SCHEMA = """
CREATE TABLE IF NOT EXISTS commits (
    id TEXT PRIMARY KEY, tree_id TEXT NOT NULL, parents TEXT NOT NULL,
    message TEXT NOT NULL, metadata TEXT NOT NULL, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS branches (name TEXT PRIMARY KEY, commit_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS staging (
    branch TEXT NOT NULL, path TEXT NOT NULL, object_id TEXT, size INTEGER,
    PRIMARY KEY (branch, path));
"""
_EMPTY_TREE: dict[str, list] = {}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _validate_path(path: str) -> str:
    parts = path.split("/")
    if not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise StoreError(f"invalid object path {path!r}: expected a relative path like 'a/b/c.parquet'")
    return path


class LocalStore(VersionedStore):
    """Versioned store in a directory; safe for several processes at once."""

    def __init__(self, root: Path | str, repository: str = "mlops"):
        self.root = Path(root)
        self.repository = repository
        self._repo_dir = self.root / repository
        self._objects = self._repo_dir / "objects"
        self._db_path = self._repo_dir / "refs.sqlite3"
        self._connections = threading.local()

    def __repr__(self) -> str:
        return f"LocalStore(root={str(self.root)!r}, repository={self.repository!r})"

    def describe(self) -> StoreDescription:
        return StoreDescription(backend="local", location=str(self._repo_dir), repository=self.repository)

    # ---- connections -------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        """This thread's connection, opened once (closing a WAL connection checkpoints: slow)."""
        cached = getattr(self._connections, "con", None)
        if cached is not None and self._connections.pid == os.getpid():
            return cached
        if not self._db_path.exists():
            raise RepositoryNotFound(
                f"repository {self.repository!r} does not exist in {self.root} (run ensure_repository first)"
            )
        con = sqlite3.connect(self._db_path, timeout=60, isolation_level=None, check_same_thread=False)
        con.execute("PRAGMA busy_timeout = 60000")
        # WAL + NORMAL: every transaction is atomic (a killed process leaves old or new state);
        # only a power cut may lose the last transactions, never corrupt the store.
        con.execute("PRAGMA synchronous = NORMAL")
        self._connections.con, self._connections.pid = con, os.getpid()
        return con

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: one consistent snapshot across the statements of one call."""
        con = self._connect()
        con.execute("BEGIN")
        try:
            yield con
        finally:
            con.execute("COMMIT")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One exclusive-for-writers transaction: ref updates are atomic and serialized."""
        con = self._connect()
        con.execute("BEGIN IMMEDIATE")
        try:
            yield con
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")

    # ---- blobs and trees -----------------------------------------------------------
    def _blob_path(self, object_id: str) -> Path:
        return self._objects / object_id[:2] / object_id[2:]

    def _put_blob(self, data: bytes) -> str:
        object_id = _sha256(data)
        target = self._blob_path(object_id)
        if not target.exists():
            if not target.parent.is_dir():
                target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        return object_id

    def _get_blob(self, object_id: str) -> bytes:
        try:
            return self._blob_path(object_id).read_bytes()
        except FileNotFoundError as exc:
            raise StoreError(
                f"object {object_id} is missing from {self._objects}: the store is damaged"
            ) from exc

    def _tree(self, tree_id: str) -> dict[str, list]:
        return _load_tree(str(self._objects), tree_id)

    def _put_tree(self, tree: dict[str, list]) -> str:
        return self._put_blob(json.dumps(tree, sort_keys=True, separators=(",", ":")).encode())

    def _apply(self, tree_id: str, changes: Mapping[str, Entry | None]) -> str:
        """A new tree: ``tree_id`` with ``changes`` (path -> entry, None = delete) applied."""
        tree = dict(self._tree(tree_id))
        by_child: dict[str, dict[str, Entry | None]] = {}
        for path, entry in changes.items():
            head, sep, rest = path.partition("/")
            if sep:
                by_child.setdefault(head + "/", {})[rest] = entry
            elif entry is None:
                tree.pop(head, None)
            else:
                tree[head] = [entry[0], entry[1]]
        for child, child_changes in by_child.items():
            existing = tree.get(child)
            child_id = self._apply(existing[0] if existing else self._empty_tree_id(), child_changes)
            if self._tree(child_id):
                tree[child] = [child_id, 0]
            else:
                tree.pop(child, None)
        return self._put_tree(tree)

    def _empty_tree_id(self) -> str:
        return self._put_tree(_EMPTY_TREE)

    def _walk(self, tree_id: str, prefix: str = "") -> Iterator[tuple[str, Entry]]:
        for name, (object_id, size) in sorted(self._tree(tree_id).items()):
            if name.endswith("/"):
                yield from self._walk(object_id, prefix + name)
            else:
                yield prefix + name, (object_id, size)

    def _lookup(self, tree_id: str, path: str) -> Entry | None:
        *dirs, leaf = path.split("/")
        tree = self._tree(tree_id)
        for name in dirs:
            child = tree.get(name + "/")
            if child is None:
                return None
            tree = self._tree(child[0])
        entry = tree.get(leaf)
        return (entry[0], entry[1]) if entry else None

    def _diff_trees(
        self, left_id: str, right_id: str, prefix: str = ""
    ) -> Iterator[tuple[str, Entry | None, Entry | None]]:
        """(path, left entry, right entry) for every differing path; skips equal subtrees."""
        if left_id == right_id:
            return
        left, right = self._tree(left_id), self._tree(right_id)
        empty = self._empty_tree_id()
        for name in sorted(set(left) | set(right)):
            l_entry, r_entry = left.get(name), right.get(name)
            if l_entry == r_entry:
                continue
            if name.endswith("/"):
                yield from self._diff_trees(
                    l_entry[0] if l_entry else empty, r_entry[0] if r_entry else empty, prefix + name
                )
            else:
                yield (
                    prefix + name,
                    (tuple(l_entry) if l_entry else None),
                    (tuple(r_entry) if r_entry else None),
                )

    # ---- refs ----------------------------------------------------------------------
    def _commit_row(self, con: sqlite3.Connection, commit_id: str) -> Commit:
        row = con.execute(
            "SELECT id, tree_id, parents, message, metadata, created_at FROM commits WHERE id = ?",
            (commit_id,),
        ).fetchone()
        if row is None:
            raise RefNotFound(f"commit {commit_id!r} not found in repository {self.repository!r}")
        return Commit(
            id=row[0],
            message=row[3],
            metadata=json.loads(row[4]),
            parents=tuple(json.loads(row[2])),
            created_at=row[5],
        )

    def _tree_of(self, con: sqlite3.Connection, commit_id: str) -> str:
        return con.execute("SELECT tree_id FROM commits WHERE id = ?", (commit_id,)).fetchone()[0]

    def _branch_head(self, con: sqlite3.Connection, name: str) -> str | None:
        row = con.execute("SELECT commit_id FROM branches WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    def _resolve(self, con: sqlite3.Connection, ref: str) -> tuple[str, str | None]:
        """(commit id, branch name or None) for a branch name, a full commit id or a unique prefix."""
        head = self._branch_head(con, ref)
        if head is not None:
            return head, ref
        rows = con.execute(
            "SELECT id FROM commits WHERE id >= ? AND id < ? LIMIT 2", (ref, ref + "\uffff")
        ).fetchall()
        if len(ref) >= 6 and len(rows) == 1:
            return rows[0][0], None
        raise RefNotFound(f"ref {ref!r} (branch or commit) not found in repository {self.repository!r}")

    def _staged(self, con: sqlite3.Connection, branch: str) -> dict[str, Entry | None]:
        rows = con.execute("SELECT path, object_id, size FROM staging WHERE branch = ?", (branch,))
        return {path: ((oid, size) if oid is not None else None) for path, oid, size in rows}

    def _new_commit(
        self,
        con: sqlite3.Connection,
        tree_id: str,
        parents: list[str],
        message: str,
        metadata: Mapping[str, str] | None,
    ) -> Commit:
        # Never older than a parent, whatever the clock does (skew between processes, a coarse
        # clock): the merge base walk takes history newest first.
        created_at = max([time.time(), *(self._commit_row(con, p).created_at + 1e-6 for p in parents)])
        meta = {str(k): str(v) for k, v in (metadata or {}).items()}
        body = json.dumps([tree_id, parents, message, meta, created_at], sort_keys=True).encode()
        commit_id = _sha256(body)
        con.execute(
            "INSERT INTO commits VALUES (?, ?, ?, ?, ?, ?)",
            (commit_id, tree_id, json.dumps(parents), message, json.dumps(meta, sort_keys=True), created_at),
        )
        return Commit(
            id=commit_id, message=message, metadata=meta, parents=tuple(parents), created_at=created_at
        )

    # ---- interface -----------------------------------------------------------------
    def ensure_repository(self) -> None:
        self._objects.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self._db_path, timeout=60, isolation_level=None)
        try:
            con.execute("PRAGMA journal_mode = WAL")
            con.executescript(_SCHEMA)
            con.execute("BEGIN IMMEDIATE")
            if self._branch_head(con, MAIN) is None:
                first = self._new_commit(con, self._empty_tree_id(), [], "Repository created", {})
                con.execute("INSERT INTO branches VALUES (?, ?)", (MAIN, first.id))
            con.execute("COMMIT")
        finally:
            con.close()

    def create_branch(self, name: str, source_ref: str = MAIN) -> Branch:
        validate_branch_name(name)
        with self._write() as con:
            commit_id, _ = self._resolve(con, source_ref)
            if self._branch_head(con, name) is not None:
                raise BranchExists(f"branch {name!r} already exists in repository {self.repository!r}")
            con.execute("INSERT INTO branches VALUES (?, ?)", (name, commit_id))
        return Branch(name=name, commit_id=commit_id)

    def delete_branch(self, name: str) -> None:
        if name == MAIN:
            raise StoreError("refusing to delete branch 'main'")
        with self._write() as con:
            if self._branch_head(con, name) is None:
                raise RefNotFound(f"branch {name!r} not found in repository {self.repository!r}")
            con.execute("DELETE FROM branches WHERE name = ?", (name,))
            con.execute("DELETE FROM staging WHERE branch = ?", (name,))

    def list_branches(self) -> list[Branch]:
        with self._read() as con:
            rows = con.execute("SELECT name, commit_id FROM branches ORDER BY name").fetchall()
        return [Branch(name=n, commit_id=c) for n, c in rows]

    def get_branch(self, name: str) -> Branch:
        with self._read() as con:
            head = self._branch_head(con, name)
        if head is None:
            raise RefNotFound(f"branch {name!r} not found in repository {self.repository!r}")
        return Branch(name=name, commit_id=head)

    def write_object(self, branch: str, path: str, data: bytes) -> ObjectInfo:
        _validate_path(path)
        object_id = self._put_blob(data)
        with self._write() as con:
            if self._branch_head(con, branch) is None:
                raise RefNotFound(f"branch {branch!r} not found in repository {self.repository!r}")
            con.execute(
                "INSERT OR REPLACE INTO staging VALUES (?, ?, ?, ?)", (branch, path, object_id, len(data))
            )
        return ObjectInfo(path=path, checksum=object_id, size_bytes=len(data))

    def delete_object(self, branch: str, path: str) -> None:
        """Stage a deletion; deleting a path that does not exist is a no-op, as in lakeFS."""
        _validate_path(path)
        with self._write() as con:
            if self._branch_head(con, branch) is None:
                raise RefNotFound(f"branch {branch!r} not found in repository {self.repository!r}")
            con.execute("INSERT OR REPLACE INTO staging VALUES (?, ?, NULL, NULL)", (branch, path))

    def _entry_at(self, ref: str, path: str) -> Entry:
        _validate_path(path)
        with self._read() as con:
            commit_id, branch = self._resolve(con, ref)
            staged = self._staged(con, branch) if branch else {}
            tree_id = self._tree_of(con, commit_id)
        entry = staged[path] if path in staged else self._lookup(tree_id, path)
        if entry is None:
            raise ObjectNotFound(f"no object {path!r} at ref {ref!r} in repository {self.repository!r}")
        return entry

    def read_object(self, ref: str, path: str) -> bytes:
        return self._get_blob(self._entry_at(ref, path)[0])

    def stat_object(self, ref: str, path: str) -> ObjectInfo:
        object_id, size = self._entry_at(ref, path)
        return ObjectInfo(path=path, checksum=object_id, size_bytes=size)

    def list_objects(self, ref: str, prefix: str = "") -> list[ObjectInfo]:
        with self._read() as con:
            commit_id, branch = self._resolve(con, ref)
            staged = self._staged(con, branch) if branch else {}
            tree_id = self._tree_of(con, commit_id)
        # Descend straight to the deepest directory the prefix names, then filter.
        dirs = prefix.split("/")[:-1]
        start, walked = tree_id, ""
        for name in dirs:
            child = self._tree(start).get(name + "/")
            if child is None:
                start = self._empty_tree_id()
                break
            start, walked = child[0], walked + name + "/"
        entries = {p: e for p, e in self._walk(start, walked) if p.startswith(prefix)}
        for path, entry in staged.items():
            if path.startswith(prefix):
                if entry is None:
                    entries.pop(path, None)
                else:
                    entries[path] = entry
        return [ObjectInfo(path=p, checksum=e[0], size_bytes=e[1]) for p, e in sorted(entries.items())]

    def commit(self, branch: str, message: str, metadata: Mapping[str, str] | None = None) -> Commit:
        with self._write() as con:
            head = self._branch_head(con, branch)
            if head is None:
                raise RefNotFound(f"branch {branch!r} not found in repository {self.repository!r}")
            staged = self._staged(con, branch)
            if not staged:
                raise NothingToCommit(f"nothing to commit on branch {branch!r}: no staged changes")
            head_tree = self._tree_of(con, head)
            tree_id = self._apply(head_tree, staged)
            if tree_id == head_tree:  # identical bytes rewritten, or a new path written then deleted
                raise NothingToCommit(
                    f"nothing to commit on branch {branch!r}: staged changes leave it unchanged"
                )
            new = self._new_commit(con, tree_id, [head], message, metadata)
            con.execute("UPDATE branches SET commit_id = ? WHERE name = ?", (new.id, branch))
            con.execute("DELETE FROM staging WHERE branch = ?", (branch,))
        return new

    def get_commit(self, ref: str) -> Commit:
        with self._read() as con:
            commit_id, _ = self._resolve(con, ref)
            return self._commit_row(con, commit_id)

    def log(self, ref: str, limit: int = 100) -> list[Commit]:
        with self._read() as con:
            start, _ = self._resolve(con, ref)
            seen: dict[str, Commit] = {}
            frontier = [start]
            while frontier:
                commit = self._commit_row(con, frontier.pop())
                if commit.id in seen:
                    continue
                seen[commit.id] = commit
                frontier.extend(p for p in commit.parents if p not in seen)
        return sorted(seen.values(), key=lambda c: c.created_at, reverse=True)[:limit]

    def diff(self, left_ref: str, right_ref: str) -> list[Change]:
        with self._read() as con:
            left_tree = self._tree_of(con, self._resolve(con, left_ref)[0])
            right_tree = self._tree_of(con, self._resolve(con, right_ref)[0])
        return [
            Change(
                path=path,
                type=ChangeType.ADDED
                if old is None
                else ChangeType.REMOVED
                if new is None
                else ChangeType.CHANGED,
            )
            for path, old, new in self._diff_trees(left_tree, right_tree)
        ]

    def _merge_base(self, con: sqlite3.Connection, left: str, right: str) -> str:
        """The newest common ancestor: walk both histories newest-first, painting each side.

        The first commit reached from both sides is the best base; an older common ancestor
        (e.g. main's head before ``left`` was last merged) would redo work already merged.
        """
        if left == right:
            return left
        side = {left: 1, right: 2}
        heap = [(-self._commit_row(con, c).created_at, c) for c in (left, right)]
        heapq.heapify(heap)
        done: set[str] = set()
        while heap:
            _, cid = heapq.heappop(heap)
            if cid in done:
                continue
            done.add(cid)
            if side[cid] == 3:
                return cid
            for parent in self._commit_row(con, cid).parents:
                before = side.get(parent, 0)
                side[parent] = before | side[cid]
                if parent not in done:
                    heapq.heappush(heap, (-self._commit_row(con, parent).created_at, parent))
        raise StoreError(f"commits {left[:12]} and {right[:12]} share no history")

    def merge(
        self,
        source_ref: str,
        destination_branch: str,
        message: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        with self._write() as con:
            source, _ = self._resolve(con, source_ref)
            destination = self._branch_head(con, destination_branch)
            if destination is None:
                raise RefNotFound(
                    f"branch {destination_branch!r} not found in repository {self.repository!r}"
                )
            if self._staged(con, destination_branch):
                raise StoreError(
                    f"cannot merge into {destination_branch!r}: it has uncommitted changes (commit or reset them first)"
                )
            base = self._merge_base(con, source, destination)
            if base == source:
                return destination  # nothing new on the source: destination already contains it
            base_tree = self._tree_of(con, base)
            theirs = {p: new for p, _, new in self._diff_trees(base_tree, self._tree_of(con, source))}
            ours = {p: new for p, _, new in self._diff_trees(base_tree, self._tree_of(con, destination))}
            conflicts = sorted(p for p in theirs.keys() & ours.keys() if theirs[p] != ours[p])
            if conflicts:
                raise MergeConflict(
                    f"merging {source_ref!r} into {destination_branch!r} conflicts on {len(conflicts)} path(s): "
                    + ", ".join(conflicts[:5]),
                    paths=conflicts,
                )
            tree_id = self._apply(self._tree_of(con, destination), theirs)
            merged = self._new_commit(
                con,
                tree_id,
                [destination, source],
                message or f"Merge '{source_ref}' into '{destination_branch}'",
                metadata,
            )
            con.execute("UPDATE branches SET commit_id = ? WHERE name = ?", (merged.id, destination_branch))
        return merged.id


@lru_cache(maxsize=4096)
def _load_tree_cached(objects_dir: str, tree_id: str) -> str:
    return (Path(objects_dir) / tree_id[:2] / tree_id[2:]).read_text()


def _load_tree(objects_dir: str, tree_id: str) -> dict[str, list]:
    # Trees are immutable (content-addressed), so caching their text by id is always correct.
    return json.loads(_load_tree_cached(objects_dir, tree_id))
