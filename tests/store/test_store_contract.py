"""The ``VersionedStore`` contract: one behavioural suite, run against every backend.

Where backends could plausibly differ, the test follows what lakeFS itself does, so a
pipeline behaves the same on the embedded store and on a lakeFS server.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import pytest

from mlops_assets.errors import (
    BranchExists,
    MergeConflict,
    NothingToCommit,
    ObjectNotFound,
    RefNotFound,
    RepositoryNotFound,
    StoreError,
)
from mlops_assets.lib.versioned_store.base import MAIN, Change, ChangeType, Commit, VersionedStore

MISSING_COMMIT_ID = "0" * 64


def commit_files(
    store: VersionedStore, branch: str, files: Mapping[str, bytes | None], message: str = "change"
) -> Commit:
    """Stage writes (bytes) and deletes (None) on ``branch`` and commit them."""
    for path, data in files.items():
        if data is None:
            store.delete_object(branch, path)
        else:
            store.write_object(branch, path, data)
    return store.commit(branch, message)


def contents(store: VersionedStore, ref: str, prefix: str = "") -> dict[str, bytes]:
    return {info.path: store.read_object(ref, info.path) for info in store.list_objects(ref, prefix)}


# -- repository and branches ---------------------------------------------------------------


def test_missing_repository_is_reported_until_ensure_repository_creates_it(
    fresh_store: VersionedStore,
) -> None:
    with pytest.raises(RepositoryNotFound):
        fresh_store.get_branch(MAIN)
    with pytest.raises(RepositoryNotFound):
        fresh_store.list_branches()
    with pytest.raises(RepositoryNotFound):
        fresh_store.read_object(MAIN, "a.txt")

    fresh_store.ensure_repository()
    main = fresh_store.get_branch(MAIN)
    fresh_store.ensure_repository()

    assert fresh_store.list_branches() == [main]
    assert fresh_store.get_branch(MAIN) == main
    assert [commit.id for commit in fresh_store.log(MAIN)] == [main.commit_id]
    assert fresh_store.list_objects(MAIN) == []


def test_create_branch_starts_at_the_source_head_and_is_listed(store: VersionedStore) -> None:
    first = commit_files(store, MAIN, {"a.txt": b"a"})

    feature = store.create_branch("feature-1")
    pinned = store.create_branch("from_commit", source_ref=first.id)

    assert feature.commit_id == first.id
    assert pinned.commit_id == first.id
    assert store.list_branches() == sorted([store.get_branch(MAIN), feature, pinned], key=lambda b: b.name)
    assert store.branch_exists("feature-1")


def test_creating_an_existing_branch_raises_branch_exists(store: VersionedStore) -> None:
    store.create_branch("dev")

    with pytest.raises(BranchExists):
        store.create_branch("dev")
    with pytest.raises(BranchExists):
        store.create_branch(MAIN)


def test_creating_a_branch_from_a_missing_ref_raises_ref_not_found(store: VersionedStore) -> None:
    with pytest.raises(RefNotFound):
        store.create_branch("orphan", source_ref="no-such-branch")
    with pytest.raises(RefNotFound):
        store.create_branch("orphan", source_ref=MISSING_COMMIT_ID)
    assert not store.branch_exists("orphan")


@pytest.mark.parametrize(
    "name", ["-starts-with-dash", "has space", "a/b", "", "dots.not.allowed", "ünïcode!", "café", "ünïcode"]
)
def test_invalid_branch_names_are_rejected(store: VersionedStore, name: str) -> None:
    with pytest.raises(StoreError, match="invalid branch name"):
        store.create_branch(name)
    assert [branch.name for branch in store.list_branches()] == [MAIN]


def test_deleted_branch_is_gone_but_its_commits_remain(store: VersionedStore) -> None:
    store.create_branch("scratch")
    work = commit_files(store, "scratch", {"x": b"1"})

    store.delete_branch("scratch")

    with pytest.raises(RefNotFound):
        store.get_branch("scratch")
    assert not store.branch_exists("scratch")
    assert [branch.name for branch in store.list_branches()] == [MAIN]
    assert store.read_object(work.id, "x") == b"1"
    with pytest.raises(RefNotFound):
        store.delete_branch("scratch")


def test_main_cannot_be_deleted(store: VersionedStore) -> None:
    with pytest.raises(StoreError):
        store.delete_branch(MAIN)
    assert store.branch_exists(MAIN)


# -- objects ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [b"hello", b"", bytes(range(256)) * 40, b"line\r\nbreaks\n\x00nul", b"--boundary\r\n\r\n--"],
    ids=["text", "empty", "binary", "crlf-nul", "multipart-lookalike"],
)
def test_written_bytes_read_back_exactly(store: VersionedStore, data: bytes) -> None:
    info = store.write_object(MAIN, "dir/sub dir/file name.bin", data)

    assert store.read_object(MAIN, "dir/sub dir/file name.bin") == data
    assert info.path == "dir/sub dir/file name.bin"
    assert info.size_bytes == len(data)
    assert store.stat_object(MAIN, "dir/sub dir/file name.bin") == info


def test_checksum_follows_content(store: VersionedStore) -> None:
    first = store.write_object(MAIN, "a", b"one")
    same = store.write_object(MAIN, "b", b"one")
    other = store.write_object(MAIN, "c", b"two")

    assert first.checksum == same.checksum
    assert first.checksum != other.checksum


def test_staged_write_is_visible_on_its_branch_only(store: VersionedStore) -> None:
    base = commit_files(store, MAIN, {"data.csv": b"v1"})
    store.create_branch("dev")

    store.write_object("dev", "data.csv", b"v2")
    store.write_object("dev", "new.csv", b"new")

    assert store.read_object("dev", "data.csv") == b"v2"
    assert store.read_object("dev", "new.csv") == b"new"
    assert store.read_object(MAIN, "data.csv") == b"v1"
    assert store.read_object(base.id, "data.csv") == b"v1"
    assert not store.object_exists(MAIN, "new.csv")
    assert not store.object_exists(base.id, "new.csv")
    assert store.get_branch("dev").commit_id == base.id  # staging does not move the head


def test_staged_delete_hides_the_object_on_the_branch_only(store: VersionedStore) -> None:
    base = commit_files(store, MAIN, {"keep": b"k", "drop": b"d"})
    store.create_branch("dev")

    store.delete_object("dev", "drop")

    assert [info.path for info in store.list_objects("dev")] == ["keep"]
    with pytest.raises(ObjectNotFound):
        store.read_object("dev", "drop")
    assert store.read_object(MAIN, "drop") == b"d"
    removal = store.commit("dev", "drop it")
    assert store.diff(base.id, removal.id) == [Change("drop", ChangeType.REMOVED)]


def test_deleting_a_missing_object_is_a_no_op(store: VersionedStore) -> None:
    store.delete_object(MAIN, "never/written")

    with pytest.raises(NothingToCommit):
        store.commit(MAIN, "nothing")


def test_pinned_commit_keeps_returning_its_bytes_after_later_commits(store: VersionedStore) -> None:
    first = commit_files(store, MAIN, {"model.bin": b"v1"})
    second = commit_files(store, MAIN, {"model.bin": b"v2"})
    third = commit_files(store, MAIN, {"model.bin": None})

    assert store.read_object(first.id, "model.bin") == b"v1"
    assert store.read_object(second.id, "model.bin") == b"v2"
    with pytest.raises(ObjectNotFound):
        store.read_object(third.id, "model.bin")
    with pytest.raises(ObjectNotFound):
        store.read_object(MAIN, "model.bin")


def test_list_objects_is_recursive_sorted_and_filtered_by_string_prefix(store: VersionedStore) -> None:
    paths = [
        "raw/flights/date=2013-01-02/data.parquet",
        "raw/flights/date=2013-01-01/data.parquet",
        "raw/weather/data.parquet",
        "raw/flights.csv",
        "features/x.parquet",
        "top.txt",
    ]
    commit_files(store, MAIN, {path: path.encode() for path in paths[:3]})
    for path in paths[3:]:
        store.write_object(MAIN, path, path.encode())  # staged objects are listed on the branch too

    assert [info.path for info in store.list_objects(MAIN)] == sorted(paths)
    assert [info.path for info in store.list_objects(MAIN, "raw/")] == sorted(
        p for p in paths if p.startswith("raw/")
    )
    assert [info.path for info in store.list_objects(MAIN, "raw/flights")] == [
        "raw/flights.csv",
        "raw/flights/date=2013-01-01/data.parquet",
        "raw/flights/date=2013-01-02/data.parquet",
    ]
    assert store.list_objects(MAIN, "nothing/") == []
    listed = store.list_objects(MAIN, "raw/weather/")
    assert [(info.path, info.size_bytes) for info in listed] == [("raw/weather/data.parquet", 24)]
    assert listed[0].checksum == store.stat_object(MAIN, "raw/weather/data.parquet").checksum


def test_list_objects_returns_every_object_beyond_one_page(store: VersionedStore) -> None:
    """lakeFS pages at 1000 entries at most; the store must follow every page."""
    paths = [f"partitions/{index:05d}.parquet" for index in range(1100)]
    for path in reversed(paths):
        store.write_object(MAIN, path, b"x")
    commit = store.commit(MAIN, "many objects")

    assert [info.path for info in store.list_objects(commit.id)] == paths
    assert len(store.list_objects(MAIN, "partitions/01")) == 100


# -- commits ----------------------------------------------------------------------------------


def test_commit_returns_an_immutable_commit_with_message_metadata_and_parent(store: VersionedStore) -> None:
    parent = store.get_branch(MAIN).commit_id
    store.write_object(MAIN, "a.txt", b"a")
    before = time.time()

    commit = store.commit(MAIN, "add a", {"dagster/run_id": "r-123", "rows": "42"})

    assert commit.id and commit.id != parent
    assert commit.message == "add a"
    assert dict(commit.metadata) == {"dagster/run_id": "r-123", "rows": "42"}
    assert commit.parents == (parent,)
    assert abs(commit.created_at - before) < 300
    assert store.get_branch(MAIN).commit_id == commit.id
    assert store.get_commit(commit.id) == commit
    assert store.get_commit(MAIN) == commit


def test_commit_without_staged_changes_raises_nothing_to_commit(store: VersionedStore) -> None:
    head = store.get_branch(MAIN).commit_id
    with pytest.raises(NothingToCommit):
        store.commit(MAIN, "empty")

    commit_files(store, MAIN, {"a": b"a"})
    with pytest.raises(NothingToCommit):
        store.commit(MAIN, "again")
    assert store.log(MAIN)[0].parents == (head,)


def test_rewriting_identical_bytes_is_not_a_change(store: VersionedStore) -> None:
    """lakeFS compares entries by content identity, so re-materializing the same data
    commits nothing."""
    commit_files(store, MAIN, {"same.parquet": b"same"})

    store.write_object(MAIN, "same.parquet", b"same")

    with pytest.raises(NothingToCommit):
        store.commit(MAIN, "identical")


def test_missing_refs_raise_ref_not_found(store: VersionedStore) -> None:
    with pytest.raises(RefNotFound):
        store.get_branch("no-such-branch")
    with pytest.raises(RefNotFound):
        store.get_commit("no-such-branch")
    with pytest.raises(RefNotFound):
        store.get_commit(MISSING_COMMIT_ID)
    with pytest.raises(RefNotFound):
        store.read_object("no-such-branch", "a.txt")
    with pytest.raises(RefNotFound):
        store.stat_object(MISSING_COMMIT_ID, "a.txt")
    with pytest.raises(RefNotFound):
        store.list_objects("no-such-branch")
    with pytest.raises(RefNotFound):
        store.write_object("no-such-branch", "a.txt", b"a")
    with pytest.raises(RefNotFound):
        store.commit("no-such-branch", "message")
    with pytest.raises(RefNotFound):
        store.log("no-such-branch")
    with pytest.raises(RefNotFound):
        store.diff(MAIN, "no-such-branch")
    with pytest.raises(RefNotFound):
        store.merge("no-such-branch", MAIN)
    with pytest.raises(RefNotFound):
        store.merge(MAIN, "no-such-branch")


def test_missing_object_raises_object_not_found(store: VersionedStore) -> None:
    commit = commit_files(store, MAIN, {"present": b"p"})

    with pytest.raises(ObjectNotFound):
        store.read_object(MAIN, "absent")
    with pytest.raises(ObjectNotFound):
        store.stat_object(commit.id, "absent")
    assert not store.object_exists(MAIN, "absent")
    assert store.object_exists(MAIN, "present")


# -- history ------------------------------------------------------------------------------------


def test_log_lists_every_reachable_commit_newest_first_including_merges(store: VersionedStore) -> None:
    created = store.get_branch(MAIN).commit_id
    first = commit_files(store, MAIN, {"a": b"1"}, "first")
    store.create_branch("side")
    side = commit_files(store, "side", {"b": b"1"}, "side work")
    second = commit_files(store, MAIN, {"a": b"2"}, "second")
    merge_id = store.merge("side", MAIN, message="merge side")

    log = store.log(MAIN)

    assert [commit.id for commit in log] == [merge_id, second.id, side.id, first.id, created]
    assert log[0].message == "merge side"
    assert log[0].parents == (second.id, side.id)
    assert [commit.id for commit in store.log(MAIN, limit=2)] == [merge_id, second.id]
    assert [commit.id for commit in store.log(side.id)] == [side.id, first.id, created]
    assert [commit.id for commit in store.log("side")] == [side.id, first.id, created]


def test_log_follows_history_longer_than_one_page(store: VersionedStore) -> None:
    commits = [commit_files(store, MAIN, {"counter": str(index).encode()}) for index in range(12)]

    log = store.log(MAIN, limit=10)

    assert [commit.id for commit in log] == [commit.id for commit in reversed(commits)][:10]
    assert len(store.log(MAIN, limit=1000)) == 13


def test_diff_reports_added_changed_and_removed_paths_sorted(store: VersionedStore) -> None:
    before = commit_files(store, MAIN, {"b.txt": b"b", "c.txt": b"c", "z/keep.txt": b"k"})
    after = commit_files(store, MAIN, {"b.txt": b"B", "c.txt": None, "a/new.txt": b"new"})

    assert store.diff(before.id, after.id) == [
        Change("a/new.txt", ChangeType.ADDED),
        Change("b.txt", ChangeType.CHANGED),
        Change("c.txt", ChangeType.REMOVED),
    ]
    assert store.diff(after.id, before.id) == [
        Change("a/new.txt", ChangeType.REMOVED),
        Change("b.txt", ChangeType.CHANGED),
        Change("c.txt", ChangeType.ADDED),
    ]
    assert store.diff(before.id, before.id) == []


def test_diff_compares_committed_states_not_history_or_staging(store: VersionedStore) -> None:
    original = commit_files(store, MAIN, {"a": b"original"})
    commit_files(store, MAIN, {"a": b"edited"})
    reverted = commit_files(store, MAIN, {"a": b"original"})
    store.write_object(MAIN, "staged-only", b"s")

    assert store.diff(original.id, reverted.id) == []
    assert store.diff(reverted.id, MAIN) == []


# -- merges ---------------------------------------------------------------------------------------


def test_merging_two_concurrent_branches_keeps_both_sides(store: VersionedStore) -> None:
    base = commit_files(store, MAIN, {"shared.txt": b"base"})
    store.create_branch("left")
    store.create_branch("right")
    left = commit_files(store, "left", {"left.txt": b"L", "shared.txt": b"from left"}, "left work")
    right = commit_files(store, "right", {"right.txt": b"R"}, "right work")

    first_merge = store.merge("left", MAIN, metadata={"source": "left"})
    second_merge = store.merge("right", MAIN, message="bring right", metadata={"source": "right"})

    assert contents(store, MAIN) == {"left.txt": b"L", "right.txt": b"R", "shared.txt": b"from left"}
    assert store.get_branch(MAIN).commit_id == second_merge
    history = {commit.id for commit in store.log(MAIN)}
    assert {base.id, left.id, right.id, first_merge, second_merge} <= history
    merge_commit = store.get_commit(second_merge)
    assert merge_commit.parents == (first_merge, right.id)
    assert merge_commit.message == "bring right"
    assert {"source": "right"}.items() <= merge_commit.metadata.items()
    assert store.get_commit(first_merge).parents == (base.id, left.id)


def test_merge_into_an_unchanged_destination_still_makes_a_merge_commit(store: VersionedStore) -> None:
    head = store.get_branch(MAIN).commit_id
    store.create_branch("feature")
    feature = commit_files(store, "feature", {"f": b"f"})

    merged = store.merge("feature", MAIN)

    assert merged not in (head, feature.id)
    assert store.get_commit(merged).parents == (head, feature.id)
    assert store.read_object(MAIN, "f") == b"f"


def test_merge_with_nothing_new_on_the_source_returns_the_destination_head(store: VersionedStore) -> None:
    store.create_branch("feature")
    commit_files(store, "feature", {"f": b"f"})
    merged = store.merge("feature", MAIN)
    store.create_branch("idle")

    assert store.merge("feature", MAIN) == merged
    assert store.merge("idle", MAIN) == merged
    assert store.get_branch(MAIN).commit_id == merged


def test_merge_conflict_raises_and_leaves_the_destination_untouched(store: VersionedStore) -> None:
    commit_files(store, MAIN, {"config.yaml": b"base", "other.txt": b"o"})
    store.create_branch("feature")
    commit_files(store, "feature", {"config.yaml": b"feature", "feature-only.txt": b"f"})
    main_head = commit_files(store, MAIN, {"config.yaml": b"main"}).id
    before = contents(store, MAIN)

    with pytest.raises(MergeConflict) as conflict:
        store.merge("feature", MAIN)

    assert conflict.value.paths == ["config.yaml"]
    assert store.get_branch(MAIN).commit_id == main_head
    assert contents(store, MAIN) == before


def test_same_change_on_both_sides_is_not_a_conflict(store: VersionedStore) -> None:
    commit_files(store, MAIN, {"x": b"base"})
    store.create_branch("feature")
    commit_files(store, "feature", {"x": b"same", "y": b"y"})
    commit_files(store, MAIN, {"x": b"same"})

    store.merge("feature", MAIN)

    assert contents(store, MAIN) == {"x": b"same", "y": b"y"}


def test_merge_into_a_branch_with_staged_changes_is_refused(store: VersionedStore) -> None:
    store.create_branch("feature")
    commit_files(store, "feature", {"f": b"f"})
    head = store.get_branch(MAIN).commit_id
    store.write_object(MAIN, "uncommitted", b"u")

    with pytest.raises(StoreError) as refused:
        store.merge("feature", MAIN)

    assert not isinstance(refused.value, MergeConflict)
    assert store.get_branch(MAIN).commit_id == head
    assert store.read_object(MAIN, "uncommitted") == b"u"
