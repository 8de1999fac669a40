"""What only the lakeFS backend has: HTTP retries, credential handling, pagination and the
shape of its requests, checked against the in-process fake lakeFS."""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from base64 import b64encode

import lakefs_sdk
import pytest
from lakefs_sdk.client import LakeFSClient

from mlops_assets.errors import BranchExists, NothingToCommit, RefNotFound, StoreError, StoreUnavailable
from mlops_assets.lib.versioned_store.base import MAIN, ChangeType
from mlops_assets.lib.versioned_store.lakefs import LakeFSStore
from tests.lakefs_fake import FakeLakeFS
from tests.store.conftest import fake_lakefs_store


@pytest.fixture
def lakefs(fake_lakefs: FakeLakeFS) -> LakeFSStore:
    store = fake_lakefs_store(fake_lakefs, retries=3, backoff_seconds=0.01)
    store.ensure_repository()
    return store


def calls_to(server: FakeLakeFS, method: str, path_suffix: str) -> int:
    return sum(1 for call in server.requests if call[0] == method and call[1].endswith(path_suffix))


def exception_chain_text(error: BaseException) -> str:
    texts = []
    current: BaseException | None = error
    while current is not None:
        texts += [str(current), repr(current)]
        current = current.__cause__ or current.__context__
    return "\n".join(texts)


@pytest.mark.parametrize("status", [503, 500, 429])
def test_transient_failures_are_retried_transparently(
    fake_lakefs: FakeLakeFS, lakefs: LakeFSStore, status: int
) -> None:
    fake_lakefs.fail_next(2, status=status)

    assert lakefs.get_branch(MAIN).name == MAIN
    assert calls_to(fake_lakefs, "GET", "/branches/main") == 3


@pytest.mark.parametrize("status", [502, 504])
def test_a_write_applied_but_whose_answer_was_lost_is_done_once(
    fake_lakefs: FakeLakeFS, lakefs: LakeFSStore, status: int
) -> None:
    """A proxy's 502/504 may hide a write lakeFS carried out: the retry then meets its effect
    ('exists', 'no changes', 404) and must take it for the success it was, at every WAP step."""

    def lost_answer() -> None:
        fake_lakefs.fail_next(1, status=status, message="bad gateway", after_applying=True)

    lost_answer()
    branch = lakefs.create_branch("wap-run-asset", MAIN)
    assert branch.commit_id == lakefs.get_commit(MAIN).id
    lost_answer()
    lakefs.write_object("wap-run-asset", "a/date=2013-01-01/data.parquet", b"table")
    lost_answer()
    staged = lakefs.commit("wap-run-asset", "a 2013-01-01 (run 1)", {"dagster_run_id": "1"})
    head = lakefs.get_commit("wap-run-asset")
    assert staged == head and head.message == "a 2013-01-01 (run 1)" and head.parents[0] == branch.commit_id
    lost_answer()
    main = lakefs.merge("wap-run-asset", MAIN, "Publish a", {"dagster_run_id": "1"})
    assert (
        main == lakefs.get_commit(MAIN).id
        and lakefs.read_object(MAIN, "a/date=2013-01-01/data.parquet") == b"table"
    )
    assert [c.message for c in lakefs.log(MAIN, limit=2)][0] == "Publish a"  # merged once
    lost_answer()
    lakefs.delete_branch("wap-run-asset")
    assert not lakefs.branch_exists("wap-run-asset")
    assert calls_to(fake_lakefs, "POST", "/commits") == 2  # one applied, its retry found it done

    # Without a lost answer, the same replies keep their meaning.
    lakefs.create_branch("taken", MAIN)
    with pytest.raises(BranchExists):
        lakefs.create_branch("taken", MAIN)
    with pytest.raises(NothingToCommit):
        lakefs.commit("taken", "nothing")
    lakefs.delete_branch("taken")
    with pytest.raises(RefNotFound):
        lakefs.delete_branch("taken")
    # A lost answer does not turn someone else's branch of that name into ours.
    lakefs.create_branch("other", MAIN)
    lakefs.write_object("other", "b.txt", b"b")
    lakefs.commit("other", "b")
    fake_lakefs.fail_next(1, status=status, after_applying=True)
    with pytest.raises(BranchExists):
        lakefs.create_branch("other", MAIN)


def test_persistent_failure_raises_store_unavailable_after_bounded_attempts(fake_lakefs: FakeLakeFS) -> None:
    store = fake_lakefs_store(fake_lakefs, retries=3, backoff_seconds=0.01)
    fake_lakefs.fail_next(4, status=503)
    started = time.monotonic()

    with pytest.raises(StoreUnavailable, match="after 4 attempts") as unavailable:
        store.ensure_repository()

    assert time.monotonic() - started < 2.0
    assert len(fake_lakefs.requests) == 4
    assert fake_lakefs.endpoint in str(unavailable.value)
    store.ensure_repository()  # the fault budget was exactly used up: the next call goes through


def test_retries_zero_means_a_single_attempt(fake_lakefs: FakeLakeFS) -> None:
    store = fake_lakefs_store(fake_lakefs, retries=0)
    fake_lakefs.fail_next(1, status=502)

    with pytest.raises(StoreUnavailable):
        store.ensure_repository()
    assert len(fake_lakefs.requests) == 1


def test_unreachable_server_raises_store_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    store = LakeFSStore(
        f"http://127.0.0.1:{closed_port}",
        "key",
        "secret",
        "unreachable",
        "local://x",
        retries=2,
        backoff_seconds=0.01,
    )
    started = time.monotonic()

    with pytest.raises(StoreUnavailable, match="after 3 attempts"):
        store.ensure_repository()
    assert time.monotonic() - started < 2.0


def test_rejected_credentials_name_the_variables_but_never_the_secret(fake_lakefs: FakeLakeFS) -> None:
    wrong_secret = "wrong-secret-Xy9-do-not-print"
    store = LakeFSStore(
        fake_lakefs.endpoint,
        fake_lakefs.access_key_id,
        wrong_secret,
        "contract-tests",
        "local://x",
        retries=3,
    )

    with pytest.raises(StoreError) as rejected:
        store.ensure_repository()

    message = str(rejected.value)
    assert "LAKEFS_ACCESS_KEY_ID" in message and "LAKEFS_SECRET_ACCESS_KEY" in message
    assert fake_lakefs.endpoint in message
    assert wrong_secret not in exception_chain_text(rejected.value)
    assert len(fake_lakefs.requests) == 1  # a 401 is not worth retrying


def test_secret_echoed_by_the_server_is_scrubbed(fake_lakefs: FakeLakeFS, lakefs: LakeFSStore) -> None:
    echo = f"bad request from user with secret {fake_lakefs.secret_access_key}"
    fake_lakefs.fail_next(1, status=400, message=echo)
    with pytest.raises(StoreError) as bad_request:
        lakefs.get_branch(MAIN)
    fake_lakefs.fail_next(4, status=500, message=echo)
    with pytest.raises(StoreUnavailable) as unavailable:
        lakefs.get_branch(MAIN)

    for error in (bad_request.value, unavailable.value):
        assert "bad request from user with secret ***" in str(error)
        assert fake_lakefs.secret_access_key not in exception_chain_text(error)


def test_store_repr_and_description_hold_no_keys(fake_lakefs: FakeLakeFS, lakefs: LakeFSStore) -> None:
    description = lakefs.describe()

    assert fake_lakefs.secret_access_key not in repr(lakefs)
    assert fake_lakefs.access_key_id not in repr(lakefs)
    assert (description.backend, description.location, description.repository) == (
        "lakefs",
        fake_lakefs.endpoint,
        "contract-tests",
    )
    assert fake_lakefs.secret_access_key not in repr(description)


@pytest.mark.parametrize("suffix", ["", "/", "/api/v1", "/api/v1/"])
def test_endpoint_may_be_given_with_or_without_the_api_path(fake_lakefs: FakeLakeFS, suffix: str) -> None:
    store = LakeFSStore(
        fake_lakefs.endpoint + suffix,
        fake_lakefs.access_key_id,
        fake_lakefs.secret_access_key,
        "contract-tests",
        "local://x",
    )
    store.ensure_repository()

    assert store.describe().location == fake_lakefs.endpoint
    head = store.get_branch(MAIN).commit_id
    assert store.commit_url(head) == f"{fake_lakefs.endpoint}/repositories/contract-tests/commits/{head}"


def test_two_processes_creating_the_repository_at_once_both_succeed(
    fake_lakefs: FakeLakeFS, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two pods start at once: both see no repository, both create it. The loser's creation is
    answered 400 "storage namespace already in use"; the repository exists, so it carries on."""
    first = fake_lakefs_store(fake_lakefs, retries=0)
    second = fake_lakefs_store(fake_lakefs, retries=0)
    looked_before = [False]  # the second looked before the first created it
    real_check = second._repository_exists
    monkeypatch.setattr(
        second, "_repository_exists", lambda: looked_before.pop() if looked_before else real_check()
    )
    first.ensure_repository()
    second.ensure_repository()
    assert calls_to(fake_lakefs, "POST", "/repositories") == 2
    assert second.get_branch(MAIN).commit_id == first.get_branch(MAIN).commit_id


def test_a_namespace_held_by_another_repository_is_a_clear_error(fake_lakefs: FakeLakeFS) -> None:
    fake_lakefs_store(fake_lakefs, retries=0).ensure_repository()
    other = LakeFSStore(
        fake_lakefs.endpoint,
        fake_lakefs.access_key_id,
        fake_lakefs.secret_access_key,
        repository="another-repository",
        storage_namespace="local://contract-tests",  # the first repository's
        retries=0,
    )
    with pytest.raises(StoreError, match="storage namespace already in use") as refused:
        other.ensure_repository()
    assert fake_lakefs.secret_access_key not in exception_chain_text(refused.value)


def test_invalid_names_are_rejected_before_any_request(fake_lakefs: FakeLakeFS, lakefs: LakeFSStore) -> None:
    sent = len(fake_lakefs.requests)

    with pytest.raises(StoreError, match="invalid branch name"):
        lakefs.write_object("no/slashes", "a", b"a")
    with pytest.raises(StoreError, match="invalid lakeFS repository name"):
        LakeFSStore(fake_lakefs.endpoint, "k", "s", "Upper_Case", "local://x")
    assert len(fake_lakefs.requests) == sent


def test_every_listing_follows_pagination(fake_lakefs: FakeLakeFS, lakefs: LakeFSStore) -> None:
    fake_lakefs.max_page_size = 3
    before = lakefs.get_branch(MAIN).commit_id
    for index in range(7):
        lakefs.create_branch(f"branch-{index}")
    for index in range(10):
        lakefs.write_object(MAIN, f"objects/{index:02d}", b"x")
    after = lakefs.commit(MAIN, "ten objects").id

    assert len(lakefs.list_branches()) == 8
    assert [info.path for info in lakefs.list_objects(MAIN)] == [
        f"objects/{index:02d}" for index in range(10)
    ]
    assert [change.type for change in lakefs.diff(before, after)] == [ChangeType.ADDED] * 10
    assert [commit.id for commit in lakefs.log(MAIN, limit=2)] == [after, before]
    assert calls_to(fake_lakefs, "GET", "/branches") == 3
    assert calls_to(fake_lakefs, "GET", "/objects/ls") == 4
    assert calls_to(fake_lakefs, "GET", f"/diff/{after}") == 4
    assert calls_to(fake_lakefs, "GET", "/refs/main/commits") == 1  # limit=2 fits one page


def test_fake_understands_the_sdk_multipart_upload(fake_lakefs: FakeLakeFS, lakefs: LakeFSStore) -> None:
    """The store uploads a raw body; the SDK's own upload_object sends multipart/form-data."""
    configuration = lakefs_sdk.Configuration(
        host=fake_lakefs.endpoint + "/api/v1",
        username=fake_lakefs.access_key_id,
        password=fake_lakefs.secret_access_key,
    )
    data = b"\r\n--not-a-boundary\r\nbinary\x00\xff"
    LakeFSClient(configuration).objects_api.upload_object("contract-tests", MAIN, "sdk.bin", content=data)

    assert lakefs.read_object(MAIN, "sdk.bin") == data


def test_fake_answers_501_for_api_it_does_not_implement() -> None:
    with FakeLakeFS() as server:
        token = b64encode(f"{server.access_key_id}:{server.secret_access_key}".encode()).decode()
        request = urllib.request.Request(
            f"{server.endpoint}/api/v1/repositories/r/tags", headers={"Authorization": f"Basic {token}"}
        )
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.urlopen(request, timeout=5)

        assert answer.value.code == 501
        assert "not implemented" in json.loads(answer.value.read())["message"]
        assert server.unknown_calls == [
            ("GET", "/api/v1/repositories/r/tags", "GET /api/v1/repositories/r/tags")
        ]
