"""DuckDB reads the published tables of one commit through the real lakeFS's S3 gateway (httpfs
from its wheel, offline), and reads exactly what the Parquet mirror of that commit holds.

The figures that decided between the two ways are in benchmarks/dbt_gateway.py (deploy/README.md).
"""

from __future__ import annotations

import duckdb
import polars as pl
import pytest

from mlops_assets.errors import StoreError
from mlops_assets.lib.versioned_store.export import sync_mirror
from mlops_assets.lib.versioned_store.gateway import LakeFSGateway, httpfs_extension_dir
from mlops_assets.lib.versioned_store.wap import encode_table, publish, stage, table_path, wap_branch
from tests.lakefs_service import real_service

FLIGHTS = ["raw", "flights"]
GLOB = "raw/flights/date=*/data.parquet"


def _publish(store, day: str, rows: int) -> str:
    branch = wap_branch(f"gateway-{day}", FLIGHTS)
    frame = pl.DataFrame({"flight": list(range(rows)), "day": [day] * rows})
    stage(store, branch, {table_path(FLIGHTS, day): encode_table(frame)}, f"raw/flights {day}", {})
    publish(store, branch, f"publish {day}", {})
    return store.get_commit("main").id


@pytest.fixture
def published(real_lakefs_server, tmp_path):
    service = real_service(real_lakefs_server)
    repository, namespace = service.new_repository("gateway")
    store = service.store(repository, namespace)
    store.ensure_repository()
    first = _publish(store, "2013-01-01", 3)
    second = _publish(store, "2013-01-02", 5)
    gateway = LakeFSGateway(service.endpoint, service.access_key_id, service.secret_access_key, repository)
    config = {
        "extension_directory": str(httpfs_extension_dir(tmp_path / "extensions")),
        "autoinstall_known_extensions": False,
    }
    with duckdb.connect(config=config) as con:
        con.execute("LOAD httpfs")
        gateway.create_secret(con)
        yield service, store, gateway, con, first, second
    service.delete_repository(repository)


def _days(con, root: str) -> dict[str, int]:
    sql = f"select day, count(*) from read_parquet('{root}/{GLOB}') group by day order by day"
    return dict(con.execute(sql).fetchall())


def test_duckdb_reads_a_pinned_commit_through_the_gateway_as_the_mirror_holds_it(published, tmp_path):
    service, store, gateway, con, first, second = published
    assert _days(con, gateway.published_root(second)) == {"2013-01-01": 3, "2013-01-02": 5}
    # The older commit is still what it was: a run pinned to it never sees the later publication.
    assert _days(con, gateway.published_root(first)) == {"2013-01-01": 3}
    synced = sync_mirror(store, tmp_path / "mirror")
    assert synced.commit_id == second
    assert _days(con, str(tmp_path / "mirror")) == _days(con, gateway.published_root(second))


def test_the_gateway_refuses_a_branch_name_and_errors_never_show_the_secret(published):
    service, _, gateway, con, first, _ = published
    with pytest.raises(StoreError, match="pin a commit id"):
        gateway.published_root("main")
    assert service.secret_access_key not in repr(gateway)
    with pytest.raises(duckdb.Error) as missing:
        con.execute(
            f"select * from read_parquet('{gateway.published_root(first)}/nope/*.parquet')"
        ).fetchall()
    wrong = LakeFSGateway(service.endpoint, service.access_key_id, "not-the-secret", gateway.repository)
    wrong.create_secret(con)
    with pytest.raises(duckdb.Error) as refused:
        _days(con, wrong.published_root(first))
    for error in (missing.value, refused.value):
        assert service.secret_access_key not in str(error)
    secrets = con.execute("select secret_string from duckdb_secrets()").fetchall()
    assert "not-the-secret" not in str(secrets)  # DuckDB shows a secret redacted


def test_a_key_id_the_gateway_cannot_verify_is_refused_before_any_read():
    with pytest.raises(StoreError, match="more than 20"):
        LakeFSGateway("http://127.0.0.1:8000", "AKIA" + "X" * 17, "secret", "repo")
