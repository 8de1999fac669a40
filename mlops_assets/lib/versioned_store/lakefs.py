"""``VersionedStore`` on a lakeFS server, through the generated lakeFS SDK (``lakefs_sdk``).

Every call goes through ``LakeFSStore._send``, which retries 429/5xx answers and
connection failures with bounded exponential backoff, and turns every SDK
exception into one of ``mlops_assets.errors`` built from status, reason and the
server's JSON ``message`` only — the SDK's own exception text is never wrapped,
and the secret access key is scrubbed from anything we raise.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NoReturn, TypeVar
from urllib.parse import quote

import urllib3
from lakefs_sdk import (
    ApiClient,
    BranchCreation,
    BranchesApi,
    BranchProtectionRule,
    CommitCreation,
    CommitsApi,
    Configuration,
    GarbageCollectionRule,
    GarbageCollectionRules,
    Merge,
    ObjectsApi,
    ObjectStats,
    RefsApi,
    RepositoriesApi,
    RepositoryCreation,
)
from lakefs_sdk import Commit as SdkCommit
from lakefs_sdk.exceptions import ApiException

from mlops_assets.errors import (
    BranchExists,
    MergeConflict,
    NothingToCommit,
    ObjectNotFound,
    RefNotFound,
    RepositoryNotFound,
    StoreError,
    StoreUnavailable,
)
from mlops_assets.lib.versioned_store.base import (
    BRANCH_NAME,
    MAIN,
    Branch,
    Change,
    ChangeType,
    Commit,
    ObjectInfo,
    StoreDescription,
    VersionedStore,
    content_type,
    validate_branch_name,
)

T = TypeVar("T")

API_PREFIX = "/api/v1"
# lakeFS's own rule for repository ids (RepositoryCreation.name).
REPOSITORY_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{2,62}$")
STORAGE_NAMESPACE = re.compile(r"^(s3|gs|https?|mem|local|transient)://.*$")  # RepositoryCreation's rule
PAGE_SIZE = 1000  # lakeFS's maximum page size
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_BACKOFF_SECONDS = 5.0
# (connect, read) — the read timeout is between bytes, so large uploads are not cut off.
REQUEST_TIMEOUT_SECONDS = (10.0, 300.0)
CHANGE_TYPES = {
    "added": ChangeType.ADDED,
    "removed": ChangeType.REMOVED,
    "changed": ChangeType.CHANGED,
    # Only three-dot diffs report conflicts; on the right side it is a change.
    "conflict": ChangeType.CHANGED,
}


class _HttpError(Exception):
    """A non-retryable HTTP answer, reduced to what is safe to show."""

    def __init__(self, status: int, reason: str, message: str):
        self.status = status
        self.reason = reason
        self.message = message
        # True when an earlier attempt of the same call failed in transit (a 502/504 from a proxy, a
        # dropped connection): that attempt may have been applied, so this answer may be about it.
        self.after_retry = False
        super().__init__(f"HTTP {status} {reason}: {message}")


class LakeFSStore(VersionedStore):
    """A lakeFS repository; branches, commits and merges are lakeFS's own.

    ``retries`` is how many times a call is re-sent after a 429/5xx answer or a
    connection failure (so at most ``retries + 1`` attempts), waiting
    ``backoff_seconds * 2**n`` (capped) in between.
    """

    def __init__(
        self,
        endpoint: str,
        access_key_id: str,
        secret_access_key: str,
        repository: str,
        storage_namespace: str,
        *,
        retries: int = 4,
        backoff_seconds: float = 0.2,
    ):
        if not REPOSITORY_NAME.match(repository):
            raise StoreError(
                f"invalid lakeFS repository name {repository!r}: expected 3-63 lowercase letters,"
                " digits or '-', starting with a letter or digit"
            )
        if retries < 0 or backoff_seconds < 0:
            raise StoreError(f"retries and backoff_seconds must be >= 0, got {retries} and {backoff_seconds}")
        self._endpoint = _endpoint_root(endpoint)
        self._repository = repository
        self._storage_namespace = storage_namespace
        self._retries = retries
        self._backoff_seconds = backoff_seconds
        # Kept only so it can be scrubbed from every message we raise.
        self._secret_access_key = secret_access_key

        configuration = Configuration(
            host=self._endpoint + API_PREFIX, username=access_key_id, password=secret_access_key
        )
        configuration.retries = False  # _send owns the retry budget
        self._api_client = ApiClient(configuration)
        self._repositories = RepositoriesApi(self._api_client)
        self._branches = BranchesApi(self._api_client)
        self._objects = ObjectsApi(self._api_client)
        self._commits = CommitsApi(self._api_client)
        self._refs = RefsApi(self._api_client)

    def __repr__(self) -> str:
        return f"LakeFSStore(endpoint={self._endpoint!r}, repository={self._repository!r})"

    def describe(self) -> StoreDescription:
        return StoreDescription(backend="lakefs", location=self._endpoint, repository=self._repository)

    def commit_url(self, commit_id: str) -> str:
        """Where a person can look at this commit in the lakeFS UI."""
        repository, commit = quote(self._repository, safe=""), quote(commit_id, safe="")
        return f"{self._endpoint}/repositories/{repository}/commits/{commit}"

    # -- repository and branches -------------------------------------------------

    def ensure_repository(self) -> None:
        if self._repository_exists():
            return
        if not STORAGE_NAMESPACE.match(self._storage_namespace):
            raise StoreError(
                f"invalid lakeFS storage namespace {self._storage_namespace!r}: expected a URI such as"
                " s3://bucket/path or local://path"
            )
        creation = RepositoryCreation(
            name=self._repository, storage_namespace=self._storage_namespace, default_branch=MAIN
        )
        try:
            self._send("create repository", self._repositories.create_repository, creation)
        except _HttpError as error:
            # Another process (a second pod starting) may have created it meanwhile: lakeFS then
            # answers 409, or 400 "storage namespace already in use" when the other claimed the
            # namespace first. Either way the repository exists now; anything else is an error.
            if not self._repository_exists():
                self._fail("create repository", error)

    def protect_branch(self, pattern: str = MAIN) -> bool:
        """Add a branch protection rule: lakeFS itself then refuses direct writes, commits and the
        deletion of matching branches, so data reaches them only by merges. Idempotent; True when
        the rule was added. Needs a key allowed to change repository settings (an admin's, not the
        pipeline's: deploy/README.md, lakeFS credentials)."""
        answer = self._call(
            "get branch protection rules",
            self._repositories.get_branch_protection_rules_with_http_info,
            self._repository,
        )
        patterns = [rule.pattern for rule in answer.data]
        if pattern in patterns:
            return False
        rules = [BranchProtectionRule(pattern=existing) for existing in [*patterns, pattern]]
        self._call(
            f"protect branches matching {pattern!r}",
            self._repositories.set_branch_protection_rules,
            self._repository,
            rules,
            if_match=(answer.headers or {}).get("ETag"),
        )
        return True

    def set_retention(self, default_days: int, branches: Mapping[str, int]) -> None:
        """lakeFS's garbage-collection rules: how long commits no branch head holds any more stay
        readable, per branch (``branches``) and for every other branch (``default_days``). lakeFS's
        GC job (a Spark job run on a schedule, deploy/README.md) deletes what falls outside them."""
        rules = GarbageCollectionRules(
            default_retention_days=default_days,
            branches=[
                GarbageCollectionRule(branch_id=name, retention_days=days) for name, days in branches.items()
            ],
        )
        self._call("set garbage-collection rules", self._repositories.set_gc_rules, self._repository, rules)

    def create_branch(self, name: str, source_ref: str = MAIN) -> Branch:
        validate_branch_name(name)
        creation = BranchCreation(name=name, source=source_ref)
        try:
            commit_id = self._send("create branch", self._branches.create_branch, self._repository, creation)
        except _HttpError as error:
            if error.status == 409:
                if error.after_retry and (made := self._made_by_lost_answer(name, source_ref)):
                    return made
                raise BranchExists(f"branch {name!r} already exists in {self._where}") from None
            self._fail(
                f"create branch {name!r} from {source_ref!r}",
                error,
                missing=lambda: self._missing_ref(source_ref),
            )
        return Branch(name=name, commit_id=commit_id)

    def delete_branch(self, name: str) -> None:
        validate_branch_name(name)
        try:
            self._send(f"delete branch {name!r}", self._branches.delete_branch, self._repository, name)
        except _HttpError as error:
            if error.status == 404 and error.after_retry:
                return  # an earlier attempt deleted it; its answer was lost on the way
            self._fail(f"delete branch {name!r}", error, missing=lambda: self._missing_ref(name))

    def _made_by_lost_answer(self, name: str, source_ref: str) -> Branch | None:
        """The branch an earlier, applied attempt of ``create_branch`` made: it exists and points at
        the source's commit. None if it is another branch of that name (a true conflict)."""
        branch = self.get_branch(name)
        return branch if branch.commit_id == self.get_commit(source_ref).id else None

    def list_branches(self) -> list[Branch]:
        refs = self._paginate("list branches", self._branches.list_branches, self._repository)
        return [Branch(name=ref.id, commit_id=ref.commit_id) for ref in refs]

    def get_branch(self, name: str) -> Branch:
        validate_branch_name(name)
        ref = self._call(
            f"get branch {name!r}",
            self._branches.get_branch,
            self._repository,
            name,
            missing=lambda: self._missing_ref(name),
        )
        return Branch(name=ref.id, commit_id=ref.commit_id)

    # -- objects -------------------------------------------------------------------

    def write_object(self, branch: str, path: str, data: bytes) -> ObjectInfo:
        validate_branch_name(branch)
        stats = self._call(
            f"write {path!r} on branch {branch!r}",
            self._upload,
            branch,
            path,
            bytes(data),
            missing=lambda: self._missing_ref(branch),
        )
        return _object_info(stats)

    def delete_object(self, branch: str, path: str) -> None:
        validate_branch_name(branch)
        self._call(
            f"delete {path!r} on branch {branch!r}",
            self._objects.delete_object,
            self._repository,
            branch,
            path,
            missing=lambda: self._missing_object(branch, path),
        )

    def read_object(self, ref: str, path: str) -> bytes:
        data = self._call(
            f"read {path!r} at {ref!r}",
            self._objects.get_object,
            self._repository,
            ref,
            path,
            missing=lambda: self._missing_object(ref, path),
        )
        return bytes(data)

    def stat_object(self, ref: str, path: str) -> ObjectInfo:
        stats = self._call(
            f"stat {path!r} at {ref!r}",
            self._objects.stat_object,
            self._repository,
            ref,
            path,
            missing=lambda: self._missing_object(ref, path),
        )
        return _object_info(stats)

    def list_objects(self, ref: str, prefix: str = "") -> list[ObjectInfo]:
        entries = self._paginate(
            f"list objects under {prefix!r} at {ref!r}",
            self._objects.list_objects,
            self._repository,
            ref,
            prefix=prefix,
            delimiter="",  # no grouping into common prefixes: every object, recursively
            missing=lambda: self._missing_ref(ref),
        )
        return sorted(
            (_object_info(entry) for entry in entries if entry.path_type == "object"),
            key=lambda info: info.path,
        )

    # -- commits, history, merges ------------------------------------------------------

    def commit(self, branch: str, message: str, metadata: Mapping[str, str] | None = None) -> Commit:
        validate_branch_name(branch)
        creation = CommitCreation(message=message, metadata=_string_map(metadata))
        try:
            commit = self._send("commit", self._commits.commit, self._repository, branch, creation)
        except _HttpError as error:
            if error.status == 400 and "no changes" in error.message:
                if error.after_retry:
                    # An earlier attempt committed and its answer was lost: the branch's head is
                    # that commit (same message and metadata), not "nothing to commit".
                    head = self.get_commit(branch)
                    if head.message == message and dict(head.metadata) == _string_map(metadata):
                        return head
                raise NothingToCommit(
                    f"branch {branch!r} in {self._where} has no staged changes to commit"
                ) from None
            self._fail(f"commit on branch {branch!r}", error, missing=lambda: self._missing_ref(branch))
        return _commit(commit)

    def get_commit(self, ref: str) -> Commit:
        commit_id = ref
        if BRANCH_NAME.match(ref):
            try:
                commit_id = self._send(
                    "get branch", self._branches.get_branch, self._repository, ref
                ).commit_id
            except _HttpError as error:
                if error.status != 404:  # 404: not a branch, so it should be a commit id
                    self._fail(f"resolve ref {ref!r}", error)
        commit = self._call(
            f"get commit {ref!r}",
            self._commits.get_commit,
            self._repository,
            commit_id,
            missing=lambda: self._missing_ref(ref),
        )
        return _commit(commit)

    def log(self, ref: str, limit: int = 100) -> list[Commit]:
        if limit <= 0:
            return []
        pages = self._paginate(
            f"log {ref!r}",
            self._refs.log_commits,
            self._repository,
            ref,
            page_size=min(limit, PAGE_SIZE),
            missing=lambda: self._missing_ref(ref),
        )
        commits: list[Commit] = []
        for commit in pages:
            commits.append(_commit(commit))
            if len(commits) == limit:
                break
        return commits

    def diff(self, left_ref: str, right_ref: str) -> list[Change]:
        entries = self._diff_entries(left_ref, right_ref, "two_dot")
        changes = [
            Change(path=entry.path, type=CHANGE_TYPES[entry.type])
            for entry in entries
            if entry.path_type == "object"
        ]
        return sorted(changes, key=lambda change: change.path)

    def merge(
        self,
        source_ref: str,
        destination_branch: str,
        message: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        validate_branch_name(destination_branch)
        request = Merge(message=message, metadata=_string_map(metadata))
        action = f"merge {source_ref!r} into {destination_branch!r}"
        try:
            result = self._send(
                action,
                self._refs.merge_into_branch,
                self._repository,
                source_ref,
                destination_branch,
                request,
            )
        except _HttpError as error:
            if error.status == 409:
                paths = self._conflicting_paths(destination_branch, source_ref)
                changed = ", ".join(paths) or "the same paths"
                raise MergeConflict(
                    f"cannot {action} in {self._where}: both sides changed {changed}", paths=paths
                ) from None
            if error.status == 400 and "no changes" in error.message:
                # The source brings nothing new (e.g. already merged): nothing to do.
                return self.get_branch(destination_branch).commit_id
            self._fail(
                action, error, missing=lambda: self._missing_either_ref(source_ref, destination_branch)
            )
        return result.reference

    # -- plumbing --------------------------------------------------------------------------

    @property
    def _where(self) -> str:
        return f"lakeFS repository {self._repository!r} at {self._endpoint}"

    def _upload(self, branch: str, path: str, data: bytes, **request_options: Any) -> ObjectStats:
        """POST the bytes as the raw body, which lakeFS accepts next to multipart
        (``ObjectsApi.upload_object`` treats bytes ``content`` as a file name to open, and skips
        empty content altogether). The body's type is stored with the object and served back:
        an HTML report opens as a page."""
        return self._api_client.call_api(
            "/repositories/{repository}/branches/{branch}/objects",
            "POST",
            path_params={"repository": self._repository, "branch": branch},
            query_params=[("path", path)],
            header_params={"Accept": "application/json", "Content-Type": content_type(path)},
            body=data,
            response_types_map={"201": "ObjectStats"},
            auth_settings=["basic_auth"],
            _return_http_data_only=True,
            **request_options,
        )

    def _diff_entries(self, left_ref: str, right_ref: str, diff_type: str) -> Iterator[Any]:
        return self._paginate(
            f"diff {left_ref!r} against {right_ref!r}",
            self._refs.diff_refs,
            self._repository,
            left_ref,
            right_ref,
            type=diff_type,
            delimiter="",
            missing=lambda: self._missing_either_ref(left_ref, right_ref),
        )

    def _conflicting_paths(self, destination_branch: str, source_ref: str) -> list[str]:
        """lakeFS's merge answer does not name the paths; its three-dot diff does."""
        try:
            entries = list(self._diff_entries(destination_branch, source_ref, "three_dot"))
        except StoreError:
            return []  # the conflict itself is certain; naming its paths is only a courtesy
        return sorted(entry.path for entry in entries if entry.type == "conflict")

    def _paginate(
        self,
        action: str,
        send: Callable[..., Any],
        *args: Any,
        page_size: int = PAGE_SIZE,
        missing: Callable[[], StoreError] | None = None,
        **kwargs: Any,
    ) -> Iterator[Any]:
        after = ""
        while True:
            page = self._call(action, send, *args, after=after, amount=page_size, missing=missing, **kwargs)
            yield from page.results
            if not page.pagination.has_more:
                return
            after = page.pagination.next_offset

    def _call(
        self,
        action: str,
        send: Callable[..., T],
        *args: Any,
        missing: Callable[[], StoreError] | None = None,
        **kwargs: Any,
    ) -> T:
        try:
            return self._send(action, send, *args, **kwargs)
        except _HttpError as error:
            self._fail(action, error, missing=missing)

    def _send(self, action: str, send: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """One SDK call with bounded retries; any other HTTP error comes back as ``_HttpError``.

        Errors are raised outside the ``except`` blocks so the SDK exception, whose text
        holds the raw response, is not even kept as ``__context__``."""
        last_failure = ""
        for attempt in range(self._retries + 1):
            if attempt:
                time.sleep(min(self._backoff_seconds * 2 ** (attempt - 1), MAX_BACKOFF_SECONDS))
            failure: _HttpError | None = None
            try:
                return send(*args, _request_timeout=REQUEST_TIMEOUT_SECONDS, **kwargs)
            except ApiException as error:
                failure = _HttpError(
                    error.status, self._scrub(error.reason or ""), self._scrub(_server_message(error.body))
                )
            except urllib3.exceptions.HTTPError as error:
                last_failure = self._scrub(f"{type(error).__name__}: {error}")
            if failure is not None:
                if failure.status not in RETRYABLE_STATUSES:
                    failure.after_retry = attempt > 0
                    raise failure
                last_failure = str(failure)
        raise StoreUnavailable(
            f"lakeFS at {self._endpoint} did not answer {action!r} after {self._retries + 1} attempts;"
            f" last failure: {last_failure}"
        )

    def _fail(
        self, action: str, error: _HttpError, missing: Callable[[], StoreError] | None = None
    ) -> NoReturn:
        """Raise the package error for an HTTP error; ``missing`` builds the one for a 404."""
        if error.status in (401, 403) and "insufficient permissions" in error.message:
            # lakeFS answers 401 for a valid key that lacks the right; say which role does have it.
            raise StoreError(
                f"lakeFS at {self._endpoint} refused to {action} ({error}): the lakeFS user behind"
                " LAKEFS_ACCESS_KEY_ID is not allowed to; the pipeline's key is a Writer's (branches,"
                " objects, commits, merges), and only an admin's key may create or delete repositories"
                " or change branch protection (`setup-store`; deploy/README.md, lakeFS credentials)"
            )
        if error.status == 401:
            raise StoreError(
                f"lakeFS at {self._endpoint} rejected the credentials while trying to {action} ({error});"
                " check LAKEFS_ACCESS_KEY_ID and LAKEFS_SECRET_ACCESS_KEY"
            )
        if error.status == 403 and "protected branch" in error.message:
            raise StoreError(
                f"lakeFS refused to {action} ({error}): the branch is protected, so data reaches it only"
                " through a merge (write-audit-publish stages on a branch of its own and merges)"
            )
        if error.status == 403:
            raise StoreError(
                f"lakeFS at {self._endpoint} refused to {action} ({error}); if this is about permissions,"
                " check the policies of the lakeFS user behind LAKEFS_ACCESS_KEY_ID"
            )
        failure = StoreError(f"lakeFS could not {action} in {self._where}: {error}")
        if error.status == 404:
            raise missing() if missing else self._unless_repository_missing(failure)
        raise failure

    def _scrub(self, text: str) -> str:
        return text.replace(self._secret_access_key, "***") if self._secret_access_key else text

    def _repository_exists(self) -> bool:
        try:
            self._send("get repository", self._repositories.get_repository, self._repository)
        except _HttpError as error:
            if error.status == 404:
                return False
            self._fail("get repository", error)
        return True

    def _unless_repository_missing(self, error: StoreError) -> StoreError:
        """lakeFS answers 404 for a missing repository too; ask which it is."""
        if not self._repository_exists():
            return RepositoryNotFound(f"{self._where} does not exist; call ensure_repository() first")
        return error

    def _missing_ref(self, ref: str) -> StoreError:
        return self._unless_repository_missing(RefNotFound(f"ref {ref!r} does not exist in {self._where}"))

    def _missing_either_ref(self, first_ref: str, second_ref: str) -> StoreError:
        for ref in (first_ref, second_ref):
            try:
                self.get_commit(ref)
            except (RefNotFound, RepositoryNotFound) as missing:
                return missing
        return RefNotFound(f"{first_ref!r} or {second_ref!r} does not exist in {self._where}")

    def _missing_object(self, ref: str, path: str) -> StoreError:
        """A 404 on an object call: tell a missing object from a missing ref by asking."""
        try:
            self.get_commit(ref)
        except (RefNotFound, RepositoryNotFound) as missing:
            return missing
        return ObjectNotFound(f"no object at {path!r} in ref {ref!r} of {self._where}")


def _endpoint_root(endpoint: str) -> str:
    root = endpoint.rstrip("/")
    return root.removesuffix(API_PREFIX)


def _server_message(body: str | bytes | None) -> str:
    """lakeFS answers errors with ``{"message": ...}``; anything else is not worth showing."""
    try:
        message = json.loads(body or "").get("message")
    except (ValueError, AttributeError):
        return "(no error message from server)"
    return str(message) if message else "(no error message from server)"


def _string_map(metadata: Mapping[str, str] | None) -> dict[str, str]:
    """lakeFS metadata is string to string; the SDK rejects anything else outright."""
    return {str(key): str(value) for key, value in (metadata or {}).items()}


def _object_info(stats: ObjectStats) -> ObjectInfo:
    return ObjectInfo(path=stats.path, checksum=stats.checksum, size_bytes=stats.size_bytes or 0)


def _commit(commit: SdkCommit) -> Commit:
    return Commit(
        id=commit.id,
        message=commit.message,
        metadata=dict(commit.metadata or {}),
        parents=tuple(commit.parents),
        created_at=float(commit.creation_date),
    )
