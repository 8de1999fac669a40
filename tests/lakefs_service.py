"""The lakeFS a test runs against: the real server ``make lakefs`` builds, or the in-process fake.

Where Go is present ``make test`` sets ``MLOPS_REQUIRE_LAKEFS=1`` and builds the server first, so a
missing binary fails the tests that need it instead of skipping them. Where there is no binary and
nothing requires one, the real-lakeFS tests skip with one reason, and the pipeline tests fall back
to the fake (which ``tests/store`` holds to the real server's behaviour where both run).

One real server serves a whole pytest process (each xdist worker starts its own); every test gets
repositories of its own, named uniquely, so tests never see each other's data.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import lakefs_sdk
import pytest

from mlops_assets.lakefs_server import LakeFSServer, S3Blockstore, find_binary
from mlops_assets.lib.versioned_store.lakefs import LakeFSStore
from tests.lakefs_fake import FakeLakeFS

REQUIRE_VARIABLE = "MLOPS_REQUIRE_LAKEFS"
NO_REAL_LAKEFS = (
    "no lakeFS server binary (no Go here, or `make lakefs` has not run): real-lakeFS tests skipped"
)


def real_lakefs_binary() -> Path | None:
    """The binary to run, or None (skip); fails the test when one is required and there is none."""
    binary = find_binary()
    if binary is None and os.environ.get(REQUIRE_VARIABLE) == "1":
        pytest.fail(f"{REQUIRE_VARIABLE}=1 but no lakeFS binary was found: run `make lakefs`", pytrace=False)
    return binary


@dataclass
class LakeFSService:
    """Where a test's lakeFS is and how to reach it; ``kind`` is "real" or "fake"."""

    kind: str
    endpoint: str
    access_key_id: str
    secret_access_key: str
    fake: FakeLakeFS | None = None
    server: LakeFSServer | None = None

    def new_repository(self, prefix: str = "mlops") -> tuple[str, str]:
        """A repository name no other test uses, and its storage namespace."""
        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        return name, f"local://{name}"

    def store(self, repository: str, namespace: str | None = None, **options: object) -> LakeFSStore:
        return LakeFSStore(
            self.endpoint,
            self.access_key_id,
            self.secret_access_key,
            repository=repository,
            storage_namespace=namespace or f"local://{repository}",
            **options,
        )

    def environment(self, repository: str, namespace: str | None = None) -> dict[str, str]:
        """The settings' variables for a pipeline on this lakeFS and repository."""
        return {
            "LAKEFS_ENDPOINT": self.endpoint,
            "LAKEFS_ACCESS_KEY_ID": self.access_key_id,
            "LAKEFS_SECRET_ACCESS_KEY": self.secret_access_key,
            "LAKEFS_REPOSITORY": repository,
            "LAKEFS_STORAGE_NAMESPACE": namespace or f"local://{repository}",
        }

    @property
    def unknown_calls(self) -> list:
        return self.fake.unknown_calls if self.fake else []

    def delete_repository(self, repository: str) -> None:
        """Best-effort cleanup on the real server; the store itself never deletes repositories."""
        if self.fake is not None:
            return
        configuration = lakefs_sdk.Configuration(
            host=self.endpoint + "/api/v1", username=self.access_key_id, password=self.secret_access_key
        )
        try:
            lakefs_sdk.RepositoriesApi(lakefs_sdk.ApiClient(configuration)).delete_repository(repository)
        except lakefs_sdk.ApiException:
            pass


def real_service(server: LakeFSServer) -> LakeFSService:
    return LakeFSService(
        "real",
        server.endpoint,
        server.admin.access_key_id,
        server.admin.secret_access_key,
        server=server,
    )


def fake_service(fake: FakeLakeFS) -> LakeFSService:
    return LakeFSService("fake", fake.endpoint, fake.access_key_id, fake.secret_access_key, fake=fake)


@contextmanager
def lakefs_service_in(directory: Path, s3: S3Blockstore | None = None) -> Iterator[LakeFSService]:
    """A lakeFS of its own, for a module-scoped fixture: the real server (its data in ``directory``,
    its objects on ``s3`` if given) where there is one, else the fake."""
    binary = real_lakefs_binary()
    if binary is not None:
        with LakeFSServer(binary, directory, s3=s3) as server:
            yield real_service(server)
        return
    with FakeLakeFS() as fake:
        yield fake_service(fake)
    assert fake.unknown_calls == [], f"calls the fake lakeFS does not implement: {fake.unknown_calls}"
