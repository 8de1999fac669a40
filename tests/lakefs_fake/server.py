"""An in-memory lakeFS server speaking the REST API (``/api/v1``) for exactly the calls
``LakeFSStore`` makes, shaped after lakeFS's OpenAPI (the ``lakefs_sdk`` models).

It is strict on purpose: a path, method, query parameter or request option it does not
implement answers 501 and is recorded in ``unknown_calls``, so a backend change that
starts using more of the API fails the tests instead of passing against a guess.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import itertools
import json
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, unquote, urlsplit

API_PREFIX = "/api/v1"
REPOSITORY_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{2,62}$")
BRANCH_NAME = re.compile(r"^\w[-\w]*$", re.ASCII)  # lakeFS (Go) \w is ASCII; Python's is Unicode
STORAGE_NAMESPACE = re.compile(r"^(s3|gs|https?|mem|local|transient)://.*$")
DEFAULT_PAGE_SIZE = 100  # lakeFS's default `amount`
MAX_PAGE_SIZE = 1000  # lakeFS's maximum `amount`


class ApiError(Exception):
    """An error answer, as lakeFS sends it: a status and ``{"message": ...}``."""

    def __init__(self, status: int, message: str):
        self.status = status
        self.message = message
        super().__init__(message)


class NotImplementedByFake(Exception):
    """The request is valid lakeFS API but outside what this fake implements."""


@dataclass(frozen=True)
class Entry:
    """An object version. Equality is lakeFS's entry identity (size, ETag, ...): the
    same bytes uploaded twice are the same entry, although stored twice."""

    checksum: str
    size_bytes: int
    physical_address: str = field(compare=False)
    mtime: int = field(compare=False)
    data: bytes = field(compare=False, repr=False)
    content_type: str = field(default="application/octet-stream", compare=False)


Tree = dict[str, Entry]


@dataclass(frozen=True)
class FakeCommit:
    id: str
    parents: tuple[str, ...]
    message: str
    metadata: dict[str, str]
    creation_date: int
    sequence: int  # total order of creation; creation_date has only second resolution
    tree: Tree

    @property
    def meta_range_id(self) -> str:
        """Like lakeFS's, it covers where the objects are stored, not just their identity."""
        stored = json.dumps(sorted((path, entry.physical_address) for path, entry in self.tree.items()))
        return hashlib.sha256(stored.encode()).hexdigest()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "parents": list(self.parents),
            "committer": "admin",
            "message": self.message,
            "creation_date": self.creation_date,
            "meta_range_id": self.meta_range_id,
            "metadata": self.metadata,
            "generation": self.sequence,
            "version": 1,
        }


@dataclass
class BranchState:
    head: str
    staging: dict[str, Entry | None] = field(default_factory=dict)  # None marks a staged delete


@dataclass
class Repository:
    id: str
    storage_namespace: str
    default_branch: str
    creation_date: int
    commits: dict[str, FakeCommit] = field(default_factory=dict)
    branches: dict[str, BranchState] = field(default_factory=dict)
    protected: list[str] = field(default_factory=list)  # branch protection rules (glob patterns)
    gc_rules: dict[str, Any] | None = None  # garbage-collection rules, as last set

    def refuse_if_protected(self, branch: str, action: str) -> None:
        """lakeFS's branch protection: no direct write or commit on a matching branch, merges only."""
        if any(fnmatch.fnmatchcase(branch, pattern) for pattern in self.protected):
            raise ApiError(403, f"cannot {action} to protected branch")


@dataclass
class Request:
    query: dict[str, str]
    headers: Message
    body: bytes

    def json(self) -> dict[str, Any]:
        try:
            body = json.loads(self.body or b"{}")
        except ValueError:
            raise ApiError(400, "request body is not JSON") from None
        if not isinstance(body, dict):
            raise ApiError(400, "request body must be a JSON object")
        return body

    def required(self, name: str) -> str:
        if name not in self.query:
            raise ApiError(400, f"query parameter {name!r} is required")
        return self.query[name]


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(status, json.dumps(payload).encode(), headers=dict(headers or {}))


@dataclass(frozen=True)
class Route:
    method: str
    pattern: tuple[str, ...]  # "{name}" segments capture one path segment
    query: frozenset[str]  # the query parameters this fake implements for the route
    handle: Callable[..., Response]

    def match(self, method: str, segments: tuple[str, ...]) -> dict[str, str] | None:
        if method != self.method or len(segments) != len(self.pattern):
            return None
        captured: dict[str, str] = {}
        for expected, actual in zip(self.pattern, segments, strict=True):
            if expected.startswith("{"):
                captured[expected[1:-1]] = actual
            elif expected != actual:
                return None
        return captured


class FakeLakeFS:
    """In-process lakeFS: ``with FakeLakeFS() as server: server.endpoint ...``."""

    def __init__(self, access_key_id: str = "AKIAIOSFODNN7FAKE", secret_access_key: str = "fake-secret-key"):
        self.access_key_id = access_key_id
        self.secret_access_key = secret_access_key
        self.max_page_size = MAX_PAGE_SIZE
        self.requests: list[tuple[str, str]] = []
        self.unknown_calls: list[tuple[str, str, str]] = []
        self._repositories: dict[str, Repository] = {}
        self._injected_failures: deque[tuple[int, str, bool]] = deque()
        self._sequence = itertools.count()
        self._lock = threading.Lock()
        self._http: _Server | None = None
        self._thread: threading.Thread | None = None
        self._routes = self._build_routes()

    # -- lifecycle ------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        if self._http is None:
            raise RuntimeError("the fake lakeFS server is not running; call start() first")
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    def start(self) -> Self:
        self._http = _Server(self)
        # A short poll interval makes stop() quick: shutdown() waits for the loop to notice.
        self._thread = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.01}, name="fake-lakefs", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._http is None:
            return
        self._http.shutdown()
        self._http.server_close()
        assert self._thread is not None
        self._thread.join(timeout=5)
        self._http = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- test controls -----------------------------------------------------------------

    def fail_next(
        self, count: int, status: int = 503, message: str = "injected failure", after_applying: bool = False
    ) -> None:
        """Answer the next ``count`` requests with ``status`` and ``{"message": message}``: before
        doing anything else (not even authentication), or, ``after_applying``, once the request has
        been carried out, as a proxy does when the server's answer is lost (a 502 or 504)."""
        with self._lock:
            self._injected_failures.extend([(status, message, after_applying)] * count)

    def protect(self, repository: str, pattern: str) -> None:
        """A branch protection rule, as an operator adds it (`lakectl branch-protect add`)."""
        with self._lock:
            self._repository(repository).protected.append(pattern)

    # -- dispatch ------------------------------------------------------------------------

    def dispatch(self, method: str, raw_path: str, headers: Message, body: bytes) -> Response:
        url = urlsplit(raw_path)
        with self._lock:
            self.requests.append((method, url.path))
            injected = self._injected_failures.popleft() if self._injected_failures else None
            if injected and not injected[2]:
                return json_response(injected[0], {"message": injected[1]})
            response = self._answer(method, raw_path, url, headers, body)
            return json_response(injected[0], {"message": injected[1]}) if injected else response

    def _answer(self, method: str, raw_path: str, url: Any, headers: Message, body: bytes) -> Response:
        if not self._authorized(headers.get("Authorization", "")):
            return json_response(401, {"message": "error authenticating request"})
        try:
            return self._route(method, url.path, url.query, headers, body)
        except ApiError as error:
            return json_response(error.status, {"message": error.message})
        except NotImplementedByFake as unknown:
            self.unknown_calls.append((method, raw_path, str(unknown)))
            return json_response(501, {"message": f"not implemented by the fake lakeFS: {unknown}"})

    def _authorized(self, authorization: str) -> bool:
        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(encoded, validate=True).decode()
        except ValueError:
            return False
        return decoded == f"{self.access_key_id}:{self.secret_access_key}"

    def _route(self, method: str, path: str, raw_query: str, headers: Message, body: bytes) -> Response:
        if not path.startswith(API_PREFIX + "/"):
            raise NotImplementedByFake(f"{method} {path}")
        segments = tuple(unquote(segment) for segment in path[len(API_PREFIX) + 1 :].split("/"))
        parsed = parse_qs(raw_query, keep_blank_values=True)
        query = {name: values[-1] for name, values in parsed.items()}
        for route in self._routes:
            captured = route.match(method, segments)
            if captured is None:
                continue
            unsupported = sorted(set(query) - route.query)
            if unsupported:
                raise NotImplementedByFake(f"{method} {path} with query parameters {unsupported}")
            return route.handle(Request(query, headers, body), **captured)
        raise NotImplementedByFake(f"{method} {path}")

    def _build_routes(self) -> list[Route]:
        def route(method: str, path: str, query: Iterable[str], handle: Callable[..., Response]) -> Route:
            return Route(method, tuple(path.strip("/").split("/")), frozenset(query), handle)

        pages = ("after", "amount")
        return [
            route("POST", "repositories", (), self._create_repository),
            route("GET", "repositories/{repository}", (), self._get_repository),
            route("GET", "repositories/{repository}/settings/gc_rules", (), self._get_gc_rules),
            route("PUT", "repositories/{repository}/settings/gc_rules", (), self._set_gc_rules),
            route(
                "GET",
                "repositories/{repository}/settings/branch_protection",
                (),
                self._get_branch_protection,
            ),
            route(
                "PUT",
                "repositories/{repository}/settings/branch_protection",
                (),
                self._set_branch_protection,
            ),
            route("GET", "repositories/{repository}/branches", (*pages, "prefix"), self._list_branches),
            route("POST", "repositories/{repository}/branches", (), self._create_branch),
            route("GET", "repositories/{repository}/branches/{branch}", (), self._get_branch),
            route("DELETE", "repositories/{repository}/branches/{branch}", (), self._delete_branch),
            route(
                "POST", "repositories/{repository}/branches/{branch}/objects", ("path",), self._upload_object
            ),
            route(
                "DELETE",
                "repositories/{repository}/branches/{branch}/objects",
                ("path",),
                self._delete_object,
            ),
            route("POST", "repositories/{repository}/branches/{branch}/commits", (), self._commit),
            route("GET", "repositories/{repository}/commits/{commit_id}", (), self._get_commit),
            route("GET", "repositories/{repository}/refs/{ref}/objects", ("path",), self._get_object),
            route("GET", "repositories/{repository}/refs/{ref}/objects/stat", ("path",), self._stat_object),
            route(
                "GET",
                "repositories/{repository}/refs/{ref}/objects/ls",
                (*pages, "prefix", "delimiter"),
                self._list_objects,
            ),
            route("GET", "repositories/{repository}/refs/{ref}/commits", pages, self._log_commits),
            route(
                "GET",
                "repositories/{repository}/refs/{left_ref}/diff/{right_ref}",
                (*pages, "prefix", "delimiter", "type"),
                self._diff_refs,
            ),
            route(
                "POST",
                "repositories/{repository}/refs/{source_ref}/merge/{destination_branch}",
                (),
                self._merge_into_branch,
            ),
        ]

    # -- repositories ----------------------------------------------------------------------

    def _create_repository(self, request: Request) -> Response:
        body = request.json()
        _refuse_options(body, {"storage_id": None, "sample_data": False, "read_only": False})
        name, namespace = body.get("name", ""), body.get("storage_namespace", "")
        if not REPOSITORY_NAME.match(name):
            raise ApiError(400, f"invalid repository name {name!r}")
        if not STORAGE_NAMESPACE.match(namespace):
            raise ApiError(400, f"invalid storage namespace {namespace!r}")
        # As lakeFS: a repository that exists is a 409 (checked first, tests/store/test_fake_matches_lakefs.py);
        # a namespace another repository holds is a 400. Two creations racing (two pods starting at once)
        # both pass the first check and one loses the namespace claim: either answer can come back.
        if name in self._repositories:
            raise ApiError(409, "repository already exists")
        if any(repo.storage_namespace == namespace for repo in self._repositories.values()):
            raise ApiError(400, f"failed to create repository: storage namespace already in use: {namespace}")
        now = int(time.time())
        repository = Repository(name, namespace, body.get("default_branch") or "main", now)
        initial = self._new_commit(repository, (), "Repository created", {}, {})
        repository.branches[repository.default_branch] = BranchState(head=initial.id)
        self._repositories[name] = repository
        return json_response(201, _repository_json(repository))

    def _get_repository(self, request: Request, repository: str) -> Response:
        return json_response(200, _repository_json(self._repository(repository)))

    def _get_gc_rules(self, request: Request, repository: str) -> Response:
        repo = self._repository(repository)
        if repo.gc_rules is None:
            raise ApiError(404, "no gc rules")
        return json_response(200, repo.gc_rules)

    def _set_gc_rules(self, request: Request, repository: str) -> Response:
        repo = self._repository(repository)
        rules = request.json()
        branches = rules.get("branches") if isinstance(rules, dict) else None
        if not (
            isinstance(rules.get("default_retention_days"), int)
            and isinstance(branches, list)
            and all(
                isinstance(rule, dict)
                and isinstance(rule.get("branch_id"), str)
                and isinstance(rule.get("retention_days"), int)
                for rule in branches
            )
        ):
            raise ApiError(400, "bad request: expected default_retention_days and branches")
        repo.gc_rules = rules
        return Response(204)

    def _get_branch_protection(self, request: Request, repository: str) -> Response:
        repo = self._repository(repository)
        rules = [{"pattern": pattern} for pattern in repo.protected]
        return json_response(200, rules, headers={"ETag": _etag(repo.protected)})

    def _set_branch_protection(self, request: Request, repository: str) -> Response:
        """lakeFS replaces the whole rule set; ``If-Match`` makes it a compare-and-set."""
        repo = self._repository(repository)
        expected = request.headers.get("If-Match")
        if expected is not None and expected != _etag(repo.protected):
            raise ApiError(412, "precondition failed")
        rules = request.json()
        if not isinstance(rules, list) or not all(
            isinstance(rule, dict) and set(rule) == {"pattern"} and rule["pattern"] for rule in rules
        ):
            raise ApiError(400, "bad request: expected a list of {pattern} rules")
        repo.protected = [rule["pattern"] for rule in rules]
        return Response(204)

    def _repository(self, name: str) -> Repository:
        if name not in self._repositories:
            raise ApiError(404, "repository not found")
        return self._repositories[name]

    # -- branches ------------------------------------------------------------------------------

    def _list_branches(self, request: Request, repository: str) -> Response:
        repo = self._repository(repository)
        prefix = request.query.get("prefix", "")
        refs = [
            (name, {"id": name, "commit_id": state.head})
            for name, state in sorted(repo.branches.items())
            if name.startswith(prefix)
        ]
        return self._page(request, refs)

    def _create_branch(self, request: Request, repository: str) -> Response:
        repo = self._repository(repository)
        body = request.json()
        _refuse_options(body, {"force": False, "hidden": False})
        name, source = body.get("name", ""), body.get("source", "")
        if not BRANCH_NAME.match(name):
            raise ApiError(400, f"invalid branch name {name!r}")
        if name in repo.branches:
            raise ApiError(409, "branch already exists")
        head = self._resolve_commit(repo, source)
        repo.branches[name] = BranchState(head=head.id)
        return Response(201, head.id.encode(), content_type="text/html")

    def _get_branch(self, request: Request, repository: str, branch: str) -> Response:
        state = self._branch(self._repository(repository), branch)
        return json_response(200, {"id": branch, "commit_id": state.head})

    def _delete_branch(self, request: Request, repository: str, branch: str) -> Response:
        repo = self._repository(repository)
        self._branch(repo, branch)
        if branch == repo.default_branch:
            raise ApiError(403, "cannot delete repository default branch")
        del repo.branches[branch]
        return Response(204)

    def _branch(self, repo: Repository, name: str) -> BranchState:
        if name not in repo.branches:
            raise ApiError(404, "branch not found")
        return repo.branches[name]

    # -- objects ----------------------------------------------------------------------------------

    def _upload_object(self, request: Request, repository: str, branch: str) -> Response:
        repo = self._repository(repository)
        state = self._branch(repo, branch)
        repo.refuse_if_protected(branch, "write")
        path = request.required("path")
        if not path:
            raise ApiError(400, "path must not be empty")
        content_type = request.headers.get("Content-Type", "")
        data = (
            _multipart_content(request.body, content_type)
            if content_type.startswith("multipart/form-data")
            else request.body
        )
        entry = Entry(
            checksum=hashlib.md5(data).hexdigest(),
            size_bytes=len(data),
            physical_address=f"{repo.storage_namespace.rstrip('/')}/data/{uuid.uuid4().hex}",
            mtime=int(time.time()),
            data=data,
            # lakeFS keeps a raw upload's Content-Type and serves the object with it.
            content_type=(
                content_type
                if content_type and not content_type.startswith("multipart/form-data")
                else "application/octet-stream"
            ),
        )
        state.staging[path] = entry
        return json_response(201, _object_stats(path, entry))

    def _delete_object(self, request: Request, repository: str, branch: str) -> Response:
        repo = self._repository(repository)
        state = self._branch(repo, branch)
        repo.refuse_if_protected(branch, "write")
        path = request.required("path")
        # Like lakeFS, deleting a path that does not exist is not an error.
        if path in self._branch_tree(repo, state):
            state.staging[path] = None
        return Response(204)

    def _get_object(self, request: Request, repository: str, ref: str) -> Response:
        path = request.required("path")
        entry = self._entry(self._repository(repository), ref, path)
        headers = {
            "ETag": f'"{entry.checksum}"',
            "Last-Modified": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(entry.mtime)),
        }
        return Response(200, entry.data, content_type=entry.content_type, headers=headers)

    def _stat_object(self, request: Request, repository: str, ref: str) -> Response:
        path = request.required("path")
        return json_response(200, _object_stats(path, self._entry(self._repository(repository), ref, path)))

    def _list_objects(self, request: Request, repository: str, ref: str) -> Response:
        if request.query.get("delimiter", "") != "":
            raise NotImplementedByFake("list objects grouped by a delimiter")
        tree = self._ref_tree(self._repository(repository), ref)
        prefix = request.query.get("prefix", "")
        entries = [
            (path, _object_stats(path, tree[path])) for path in sorted(tree) if path.startswith(prefix)
        ]
        return self._page(request, entries)

    def _entry(self, repo: Repository, ref: str, path: str) -> Entry:
        tree = self._ref_tree(repo, ref)
        if path not in tree:
            raise ApiError(404, "not found")
        return tree[path]

    # -- commits, log, diff, merge ------------------------------------------------------------------

    def _commit(self, request: Request, repository: str, branch: str) -> Response:
        repo = self._repository(repository)
        state = self._branch(repo, branch)
        repo.refuse_if_protected(branch, "commit")
        body = request.json()
        _refuse_options(body, {"date": None, "allow_empty": False, "force": False})
        if "message" not in body:
            raise ApiError(400, "commit message is required")
        _string_metadata(body)
        head = repo.commits[state.head]
        tree = self._branch_tree(repo, state)
        if tree == head.tree:
            raise ApiError(400, "no changes")
        # An entry identical to the committed one keeps the committed copy, as in lakeFS.
        tree = {
            path: head.tree[path] if head.tree.get(path) == entry else entry for path, entry in tree.items()
        }
        commit = self._new_commit(repo, (head.id,), body["message"], body.get("metadata") or {}, tree)
        repo.branches[branch] = BranchState(head=commit.id)
        return json_response(201, commit.to_json())

    def _get_commit(self, request: Request, repository: str, commit_id: str) -> Response:
        # lakeFS dereferences any ref here, a branch name included.
        repo = self._repository(repository)
        return json_response(200, self._resolve_commit(repo, commit_id).to_json())

    def _log_commits(self, request: Request, repository: str, ref: str) -> Response:
        repo = self._repository(repository)
        history = sorted(
            (
                repo.commits[commit_id]
                for commit_id in self._ancestors(repo, self._resolve_commit(repo, ref).id)
            ),
            key=lambda commit: commit.sequence,
            reverse=True,
        )
        return self._page(
            request, [(commit.id, commit.to_json()) for commit in history], offsets_are_keys=False
        )

    def _diff_refs(self, request: Request, repository: str, left_ref: str, right_ref: str) -> Response:
        if request.query.get("delimiter", "") != "":
            raise NotImplementedByFake("diff grouped by a delimiter")
        repo = self._repository(repository)
        left, right = self._resolve_commit(repo, left_ref), self._resolve_commit(repo, right_ref)
        diff_type = request.query.get("type", "three_dot")
        changes = _tree_changes(left.tree, right.tree)
        if diff_type == "three_dot":
            # What merging right into left would do: right's changes since the merge base,
            # "conflict" where left changed the same path too.
            base = repo.commits[self._merge_base(repo, left.id, right.id)].tree
            changes = {
                path: "conflict" if _changed(base, left.tree, path) else kind
                for path, kind in changes.items()
                if _changed(base, right.tree, path)
            }
        elif diff_type != "two_dot":
            raise ApiError(400, f"invalid diff type {diff_type!r}")
        prefix = request.query.get("prefix", "")
        entries = [
            (
                path,
                {
                    "type": kind,
                    "path": path,
                    "path_type": "object",
                    "size_bytes": _size(left.tree, right.tree, path),
                },
            )
            for path, kind in sorted(changes.items())
            if path.startswith(prefix)
        ]
        return self._page(request, entries)

    def _merge_into_branch(
        self, request: Request, repository: str, source_ref: str, destination_branch: str
    ) -> Response:
        repo = self._repository(repository)
        body = request.json()
        _refuse_options(body, {"strategy": None, "force": False, "allow_empty": False, "squash_merge": False})
        destination = self._branch(repo, destination_branch)
        source = self._resolve_commit(repo, source_ref)
        head = repo.commits[destination.head]
        if self._branch_tree(repo, destination) != head.tree:
            raise ApiError(400, f"update branch {destination_branch}: uncommitted changes (dirty branch)")
        base = repo.commits[self._merge_base(repo, head.id, source.id)]
        if source.meta_range_id == base.meta_range_id:
            raise ApiError(400, f"update branch {destination_branch}: no changes")
        merged: Tree = {}
        for path in sorted(base.tree.keys() | head.tree.keys() | source.tree.keys()):
            ours, theirs = head.tree.get(path), source.tree.get(path)
            if not _changed(base.tree, source.tree, path):
                chosen = ours
            elif not _changed(base.tree, head.tree, path) or ours == theirs:
                chosen = theirs
            else:
                return json_response(409, {"reference": ""})  # lakeFS's conflict answer names no paths
            if chosen is not None:
                merged[path] = chosen
        _string_metadata(body)
        message = body.get("message") or f"Merge '{source_ref}' into '{destination_branch}'"
        metadata = {**(body.get("metadata") or {}), ".lakefs.merge.strategy": "default"}
        commit = self._new_commit(repo, (head.id, source.id), message, metadata, merged)
        repo.branches[destination_branch] = BranchState(head=commit.id)
        return json_response(200, {"reference": commit.id})

    # -- state helpers -------------------------------------------------------------------------------

    def _new_commit(
        self, repo: Repository, parents: tuple[str, ...], message: str, metadata: dict[str, str], tree: Tree
    ) -> FakeCommit:
        sequence = next(self._sequence)
        commit_id = hashlib.sha256(f"{repo.id}/{sequence}/{uuid.uuid4()}".encode()).hexdigest()
        commit = FakeCommit(
            commit_id, parents, message, dict(metadata), int(time.time()), sequence, dict(tree)
        )
        repo.commits[commit_id] = commit
        return commit

    def _resolve_commit(self, repo: Repository, ref: str) -> FakeCommit:
        """A branch name means its committed head; otherwise the ref must be a full commit id."""
        if ref in repo.branches:
            return repo.commits[repo.branches[ref].head]
        if ref in repo.commits:
            return repo.commits[ref]
        raise ApiError(404, f"ref {ref!r} not found")

    def _ref_tree(self, repo: Repository, ref: str) -> Tree:
        """What a reader of ``ref`` sees: a branch includes its staged changes."""
        if ref in repo.branches:
            return self._branch_tree(repo, repo.branches[ref])
        return self._resolve_commit(repo, ref).tree

    def _branch_tree(self, repo: Repository, state: BranchState) -> Tree:
        tree = dict(repo.commits[state.head].tree)
        for path, entry in state.staging.items():
            if entry is None:
                tree.pop(path, None)
            else:
                tree[path] = entry
        return tree

    def _ancestors(self, repo: Repository, commit_id: str) -> set[str]:
        seen: set[str] = set()
        pending = [commit_id]
        while pending:
            current = pending.pop()
            if current not in seen:
                seen.add(current)
                pending.extend(repo.commits[current].parents)
        return seen

    def _merge_base(self, repo: Repository, first: str, second: str) -> str:
        common = self._ancestors(repo, first) & self._ancestors(repo, second)
        if not common:
            raise ApiError(404, "no merge base found")
        return max(common, key=lambda commit_id: repo.commits[commit_id].sequence)

    def _page(
        self, request: Request, items: list[tuple[str, Any]], offsets_are_keys: bool = True
    ) -> Response:
        """One page of ``(key, json)`` items sorted by key (or in the given order when the
        keys are not sortable offsets, as for commit logs), after ``after``."""
        try:
            amount = int(request.query.get("amount") or 0)
        except ValueError:
            raise ApiError(400, "amount must be an integer") from None
        if amount > MAX_PAGE_SIZE:  # lakeFS refuses a page larger than its maximum; it does not cap it
            raise ApiError(400, f"amount must be at most {MAX_PAGE_SIZE}")
        page_size = min(self.max_page_size, amount if amount > 0 else DEFAULT_PAGE_SIZE)
        after = request.query.get("after", "")
        if after:
            if offsets_are_keys:
                items = [item for item in items if item[0] > after]
            else:
                keys = [key for key, _ in items]
                items = items[keys.index(after) + 1 :] if after in keys else []
        page, has_more = items[:page_size], len(items) > page_size
        return json_response(
            200,
            {
                "pagination": {
                    "has_more": has_more,
                    "next_offset": page[-1][0] if has_more else "",
                    "results": len(page),
                    "max_per_page": self.max_page_size,
                },
                "results": [payload for _, payload in page],
            },
        )


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeLakeFS):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as urllib3 pools connections
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server: _Server

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        response = self.server.fake.dispatch(self.command, self.path, self.headers, body)
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if response.status != 204:
            self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet; ``FakeLakeFS.requests`` is the log."""


def _string_metadata(body: Mapping[str, Any]) -> None:
    """lakeFS decodes commit and merge metadata as string to string: any other value is a 400."""
    metadata = body.get("metadata") or {}
    if not isinstance(metadata, dict) or not all(isinstance(value, str) for value in metadata.values()):
        raise ApiError(400, "request body has an error: metadata values must be strings")


def _etag(patterns: list[str]) -> str:
    return '"' + hashlib.sha256(json.dumps(patterns).encode()).hexdigest()[:16] + '"'


def _refuse_options(body: Mapping[str, Any], defaults: Mapping[str, Any]) -> None:
    """Options the fake does not implement are fine only at their default value."""
    for option, default in defaults.items():
        if body.get(option, default) != default:
            raise NotImplementedByFake(f"option {option}={body[option]!r}")


def _multipart_content(body: bytes, content_type: str) -> bytes:
    """The ``content`` part of a multipart/form-data upload (as the SDK's upload_object sends)."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not match:
        raise ApiError(400, "multipart upload without a boundary")
    delimiter = b"--" + match.group(1).encode()
    for part in body.split(delimiter)[1:]:
        if part.startswith(b"--"):
            break
        headers, _, content = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if re.search(rb'content-disposition:[^\r\n]*\bname="content"', headers, re.IGNORECASE):
            return content.removesuffix(b"\r\n")
    raise ApiError(400, "multipart upload without a 'content' part")


def _changed(base: Tree, side: Tree, path: str) -> bool:
    return base.get(path) != side.get(path)


def _tree_changes(left: Tree, right: Tree) -> dict[str, str]:
    changes: dict[str, str] = {}
    for path in left.keys() | right.keys():
        if path not in left:
            changes[path] = "added"
        elif path not in right:
            changes[path] = "removed"
        elif left[path] != right[path]:
            changes[path] = "changed"
    return changes


def _size(left: Tree, right: Tree, path: str) -> int:
    entry = right.get(path) or left.get(path)
    return entry.size_bytes if entry else 0


def _object_stats(path: str, entry: Entry) -> dict[str, Any]:
    return {
        "path": path,
        "path_type": "object",
        "physical_address": entry.physical_address,
        "checksum": entry.checksum,
        "size_bytes": entry.size_bytes,
        "mtime": entry.mtime,
        "metadata": {},
        "content_type": "application/octet-stream",
    }


def _repository_json(repo: Repository) -> dict[str, Any]:
    return {
        "id": repo.id,
        "creation_date": repo.creation_date,
        "default_branch": repo.default_branch,
        "storage_namespace": repo.storage_namespace,
        "read_only": False,
    }
