"""Backends for the versioned-store contract suite: every test runs against each of them.

``lakefs-real`` runs only when ``LAKEFS_ENDPOINT`` names a lakeFS server to test against
(with ``LAKEFS_ACCESS_KEY_ID``/``LAKEFS_SECRET_ACCESS_KEY``); each test gets a fresh
repository there, deleted afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import lakefs_sdk
import pytest

from mlops_assets.lib.versioned_store.base import VersionedStore
from mlops_assets.lib.versioned_store.lakefs import LakeFSStore
from mlops_assets.lib.versioned_store.local import LocalStore
from tests.lakefs_fake import FakeLakeFS

BACKENDS = ["local", "lakefs-fake", "lakefs-real"]
REAL_LAKEFS_SKIP_REASON = "LAKEFS_ENDPOINT not set: real lakeFS suite skipped"


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
def real_lakefs_store() -> Iterator[LakeFSStore]:
    endpoint = os.environ.get("LAKEFS_ENDPOINT")
    if not endpoint:
        print(REAL_LAKEFS_SKIP_REASON)
        pytest.skip(REAL_LAKEFS_SKIP_REASON)
    access_key_id = os.environ.get("LAKEFS_ACCESS_KEY_ID", "")
    secret_access_key = os.environ.get("LAKEFS_SECRET_ACCESS_KEY", "")
    if not access_key_id or not secret_access_key:
        pytest.fail("LAKEFS_ENDPOINT is set but LAKEFS_ACCESS_KEY_ID or LAKEFS_SECRET_ACCESS_KEY is not")
    repository = f"mlops-test-{uuid.uuid4().hex[:12]}"
    namespace_root = os.environ.get("LAKEFS_STORAGE_NAMESPACE", "local://mlops-tests")
    yield LakeFSStore(
        endpoint,
        access_key_id,
        secret_access_key,
        repository=repository,
        storage_namespace=f"{namespace_root.rstrip('/')}/{repository}",
    )
    _delete_real_repository(endpoint, access_key_id, secret_access_key, repository)


def _delete_real_repository(
    endpoint: str, access_key_id: str, secret_access_key: str, repository: str
) -> None:
    """Best-effort cleanup; the store itself has no reason to delete repositories."""
    configuration = lakefs_sdk.Configuration(
        host=endpoint.rstrip("/").removesuffix("/api/v1") + "/api/v1",
        username=access_key_id,
        password=secret_access_key,
    )
    try:
        lakefs_sdk.RepositoriesApi(lakefs_sdk.ApiClient(configuration)).delete_repository(repository)
    except lakefs_sdk.ApiException:
        pass


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
