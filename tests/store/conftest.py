"""Backends for the versioned-store contract suite: every test runs against each of them.

``lakefs-real`` runs on the real lakeFS server ``make lakefs`` builds (one per pytest process,
tests/lakefs_service.py), or on the one ``LAKEFS_ENDPOINT`` names; each test gets a fresh
repository there, deleted afterwards. Without either it skips, with one reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops_assets.lib.versioned_store.base import VersionedStore
from mlops_assets.lib.versioned_store.lakefs import LakeFSStore
from mlops_assets.lib.versioned_store.local import LocalStore
from tests.lakefs_fake import FakeLakeFS
from tests.lakefs_service import LakeFSService, real_service

BACKENDS = ["local", "lakefs-fake", "lakefs-real"]


@pytest.fixture
def fake_lakefs() -> Iterator[FakeLakeFS]:
    """A fake lakeFS that fails the test if the backend used any API it does not know."""
    with FakeLakeFS() as server:
        yield server
    assert server.unknown_calls == [], (
        f"LakeFSStore made calls the fake does not implement: {server.unknown_calls}"
    )


def fake_lakefs_store(server: FakeLakeFS, retries: int = 4, backoff_seconds: float = 0.01) -> LakeFSStore:
    return LakeFSStore(
        server.endpoint,
        server.access_key_id,
        server.secret_access_key,
        repository="contract-tests",
        storage_namespace="local://contract-tests",
        retries=retries,
        backoff_seconds=backoff_seconds,
    )


@pytest.fixture
def real_lakefs_store(request: pytest.FixtureRequest) -> Iterator[LakeFSStore]:
    """A fresh repository on a real lakeFS: the one ``LAKEFS_ENDPOINT`` names (with
    ``LAKEFS_ACCESS_KEY_ID``/``LAKEFS_SECRET_ACCESS_KEY``), else the server ``make lakefs`` built,
    started by this pytest process. Deleted afterwards."""
    endpoint = os.environ.get("LAKEFS_ENDPOINT")
    if endpoint:
        access_key_id = os.environ.get("LAKEFS_ACCESS_KEY_ID", "")
        secret_access_key = os.environ.get("LAKEFS_SECRET_ACCESS_KEY", "")
        if not access_key_id or not secret_access_key:
            pytest.fail("LAKEFS_ENDPOINT is set but LAKEFS_ACCESS_KEY_ID or LAKEFS_SECRET_ACCESS_KEY is not")
        service = LakeFSService(
            "real", endpoint.rstrip("/").removesuffix("/api/v1"), access_key_id, secret_access_key
        )
    else:
        service = real_service(request.getfixturevalue("real_lakefs_server"))
    repository, namespace = service.new_repository("contract")
    namespace_root = os.environ.get("LAKEFS_STORAGE_NAMESPACE")
    if namespace_root:
        namespace = f"{namespace_root.rstrip('/')}/{repository}"
    yield service.store(repository, namespace)
    service.delete_repository(repository)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def fresh_store(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> VersionedStore:
    """A store whose repository does not exist yet."""
    if backend == "local":
        return LocalStore(tmp_path / "store")
    if backend == "lakefs-fake":
        return fake_lakefs_store(request.getfixturevalue("fake_lakefs"))
    return request.getfixturevalue("real_lakefs_store")


@pytest.fixture
def store(fresh_store: VersionedStore) -> VersionedStore:
    """A store with its repository created (branch ``main`` and its first commit)."""
    fresh_store.ensure_repository()
    return fresh_store
