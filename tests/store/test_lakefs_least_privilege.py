"""Least privilege on the real lakeFS: the pipeline's key is a Writer's, not the admin's.

lakeFS's built-in auth allows one user with one key, so without an auth server the pipeline's key
is the admin's and can change branch protection or delete the repository. Here lakeFS runs with its
own open-source ACL server (``LakeFSServer(acl=True)``): an admin runs ``setup-store``, a Writers
key does all the pipeline does and nothing more, a Readers key only reads. Skipped, like the other
real-lakeFS tests, where there is no lakeFS binary.
"""

from __future__ import annotations

import os

import dagster as dg
import lakefs_sdk
import pytest

from mlops_assets import cli
from mlops_assets.definitions import build_definitions
from mlops_assets.errors import StoreError
from mlops_assets.lakefs_server import Credentials, LakeFSServer, find_acl_binary
from mlops_assets.lib.versioned_store.lakefs import LakeFSStore
from mlops_assets.lib.versioned_store.wap import read_table, table_path
from mlops_assets.settings import current_settings, load_settings
from tests.conftest import QUIET, RANGE_END, RANGE_START, expected_rows, land
from tests.lakefs_service import NO_REAL_LAKEFS, LakeFSService, real_lakefs_binary, real_service

NOT_ALLOWED = "is not allowed to"
PROTECTED = "protected, so data reaches it only through a merge"


@pytest.fixture(scope="module")
def acl_server(tmp_path_factory: pytest.TempPathFactory):
    binary = real_lakefs_binary()
    if binary is None:
        pytest.skip(NO_REAL_LAKEFS)
    assert find_acl_binary(binary) is not None, f"no ACL server beside {binary}: run `make lakefs`"
    with LakeFSServer(binary, tmp_path_factory.mktemp("lakefs-acl"), acl=True) as server:
        yield server


@pytest.fixture(scope="module")
def writer(acl_server: LakeFSServer) -> Credentials:
    return acl_server.create_user("pipeline", "Writers")


@pytest.fixture(scope="module")
def reader(acl_server: LakeFSServer) -> Credentials:
    return acl_server.create_user("analyst", "Readers")


@pytest.fixture
def admin_service(acl_server: LakeFSServer) -> LakeFSService:
    return real_service(acl_server)


@pytest.fixture
def protected_repository(admin_service, tmp_path, monkeypatch, capsys):
    """A repository the admin made with `python -m mlops_assets setup-store` (main protected)."""
    repository, namespace = admin_service.new_repository("acl")
    for name, value in admin_service.environment(repository, namespace).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MLOPS_HOME", str(tmp_path / "admin-home"))
    current_settings.cache_clear()
    try:
        assert cli.main(["setup-store"]) == 0
    finally:
        current_settings.cache_clear()
    assert "main is protected (rule added)" in capsys.readouterr().out
    yield repository, namespace
    admin_service.delete_repository(repository)


def store_for(server: LakeFSServer, key: Credentials, repository: str) -> LakeFSStore:
    return LakeFSStore(
        server.endpoint,
        key.access_key_id,
        key.secret_access_key,
        repository=repository,
        storage_namespace=f"local://{repository}",
        retries=0,
    )


def refused(action, key: Credentials, match: str) -> str:
    """The StoreError an action raises: it says why and never carries the key's secret."""
    with pytest.raises(StoreError, match=match) as raised:
        action()
    message = str(raised.value)
    assert key.secret_access_key not in message and key.secret_access_key not in repr(raised.value)
    return message


def test_writers_key_does_the_write_audit_publish_cycle(acl_server, writer, protected_repository):
    repository, _ = protected_repository
    store = store_for(acl_server, writer, repository)
    store.ensure_repository()  # the pipeline's open(): the repository exists, so only a read
    branch = store.create_branch("wap-run-1-raw-flights", "main").name
    store.write_object(branch, "raw/flights/date=2013-06-01/data.parquet", b"audited rows")
    commit = store.commit(branch, "stage raw/flights 2013-06-01", {"dagster_run_id": "run-1"})
    store.merge(branch, "main", "publish raw/flights 2013-06-01")
    store.delete_branch(branch)

    assert store.read_object("main", "raw/flights/date=2013-06-01/data.parquet") == b"audited rows"
    assert [info.path for info in store.list_objects("main")] == ["raw/flights/date=2013-06-01/data.parquet"]
    assert store.get_commit(commit.id).metadata["dagster_run_id"] == "run-1"
    assert [b.name for b in store.list_branches()] == ["main"]


def test_writers_key_runs_the_pipeline_after_admin_setup(
    acl_server, writer, protected_repository, tmp_path, monkeypatch
):
    repository, namespace = protected_repository
    service = LakeFSService("real", acl_server.endpoint, writer.access_key_id, writer.secret_access_key)
    environ = {"MLOPS_HOME": str(tmp_path / "mlops"), **service.environment(repository, namespace)}
    for name, value in environ.items():  # as a run pod has them; the secret is a dg.EnvVar
        monkeypatch.setenv(name, value)
    settings = load_settings(environ)
    land(settings, "2013-06-01", "2013-06-01")
    with dg.instance_for_test() as instance:
        result = (
            build_definitions(settings)
            .resolve_job_def("raw_daily")
            .execute_in_process(
                instance=instance, tags={RANGE_START: "2013-06-01", RANGE_END: "2013-06-01"}, run_config=QUIET
            )
        )
        assert result.success
        log_text = "\n".join(str(entry) for entry in instance.all_logs(result.run_id))
    store = store_for(acl_server, writer, repository)
    published = read_table(store, "main", table_path(["raw", "flights"], "2013-06-01"))
    assert published.height == expected_rows("flights", "2013-06-01")
    assert not [b for b in store.list_branches() if b.name.startswith("wap-")]
    assert writer.secret_access_key not in log_text


def test_writers_key_cannot_change_protection_or_repositories(
    acl_server, admin_service, writer, protected_repository
):
    repository, _ = protected_repository
    store = store_for(acl_server, writer, repository)

    message = refused(lambda: store.protect_branch("wap-*"), writer, NOT_ALLOWED)
    assert "SetBranchProtectionRules" in message and "setup-store" in message
    other = store_for(acl_server, writer, f"{repository}-other")
    assert "CreateRepository" in refused(other.ensure_repository, writer, NOT_ALLOWED)

    # The store never deletes repositories; a Writer's key cannot either, through lakeFS's own API.
    configuration = lakefs_sdk.Configuration(
        host=acl_server.endpoint + "/api/v1", username=writer.access_key_id, password=writer.secret_access_key
    )
    with lakefs_sdk.ApiClient(configuration) as client:
        with pytest.raises(lakefs_sdk.ApiException) as raised:
            lakefs_sdk.RepositoriesApi(client).delete_repository(repository)
    assert raised.value.status in (401, 403) and "fs:DeleteRepository" in str(raised.value.body)

    # Protection is intact and main takes data only by merge.
    before = store.get_commit("main").id
    refused(
        lambda: store.write_object("main", "raw/flights/date=2013-01-01/data.parquet", b"x"),
        writer,
        PROTECTED,
    )
    refused(lambda: store.commit("main", "a direct commit"), writer, PROTECTED)
    assert store.get_commit("main").id == before and not store.list_objects("main")
    # The refusals changed nothing: the admin's rule stands, the Writer's pattern was not added.
    assert admin_service.store(repository).protect_branch("main") is False
    assert admin_service.store(repository).protect_branch("wap-*") is True


def test_readers_key_reads_main_and_writes_nothing(acl_server, writer, reader, protected_repository):
    repository, _ = protected_repository
    publisher = store_for(acl_server, writer, repository)
    branch = publisher.create_branch("wap-run-2-raw-weather", "main").name
    publisher.write_object(branch, "raw/weather/date=2013-06-01/data.parquet", b"weather rows")
    publisher.commit(branch, "stage raw/weather 2013-06-01")
    publisher.merge(branch, "main", "publish raw/weather 2013-06-01")

    store = store_for(acl_server, reader, repository)
    store.ensure_repository()
    assert store.read_object("main", "raw/weather/date=2013-06-01/data.parquet") == b"weather rows"
    assert store.log("main")[0].id == publisher.get_commit("main").id

    refused(lambda: store.create_branch("wap-run-3-raw-weather", "main"), reader, NOT_ALLOWED)
    refused(
        lambda: store.write_object(branch, "raw/weather/date=2013-06-02/data.parquet", b"x"),
        reader,
        NOT_ALLOWED,
    )
    refused(lambda: store.commit(branch, "a reader's commit"), reader, NOT_ALLOWED)
    refused(lambda: store.merge(branch, "main", "a reader's merge"), reader, NOT_ALLOWED)
    refused(lambda: store.delete_branch(branch), reader, NOT_ALLOWED)
    refused(lambda: store.protect_branch("wap-*"), reader, NOT_ALLOWED)


def test_secrets_stay_out_of_the_servers_logs(acl_server, writer, reader):
    logs = acl_server.log_path.read_text() + acl_server.acl_log_path.read_text()
    for key in (writer, reader, acl_server.admin):
        assert key.secret_access_key not in logs
    assert writer.secret_access_key not in repr(writer)


def test_restart_keeps_users_and_stops_both_processes(tmp_path):
    binary = real_lakefs_binary()
    if binary is None:
        pytest.skip(NO_REAL_LAKEFS)
    with LakeFSServer(binary, tmp_path, acl=True) as server:
        writer = server.create_user("pipeline", "Writers")
        repository = "restart-" + writer.access_key_id.lower()[-8:]
        store_for(server, server.admin, repository).ensure_repository()
        pids = [server.pid, server.acl_pid]
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    with LakeFSServer(binary, tmp_path, acl=True) as server:  # the same data directory
        store = store_for(server, writer, repository)
        store.ensure_repository()
        store.create_branch("wap-after-restart", "main")
    with pytest.raises(StoreError, match="set up with acl auth, not builtin"):
        LakeFSServer(binary, tmp_path).start()


def test_builtin_auth_has_one_user_only(real_lakefs_server):
    with pytest.raises(StoreError, match="one user with one key"):
        real_lakefs_server.create_user("pipeline", "Writers")
