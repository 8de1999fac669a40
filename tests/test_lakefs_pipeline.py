"""The whole write-audit-publish path on the lakeFS backend, through the real SDK.

The lakeFS server is the real one ``make lakefs`` builds where there is Go, else the strict
in-process fake (tests/lakefs_fake), which fails the test on any API call it does not implement.
Secrets must not leak into Dagster's event log.
"""

from __future__ import annotations

import dagster as dg
import polars as pl
import pytest

from mlops_assets.definitions import build_definitions
from mlops_assets.errors import StoreError
from mlops_assets.lib.versioned_store.wap import read_table, table_path
from mlops_assets.platform.resources import store_resource
from mlops_assets.settings import load_settings
from tests.conftest import QUIET, RANGE_END, RANGE_START, expected_rows, land


@pytest.fixture
def lakefs_world(tmp_path, monkeypatch, lakefs_service):
    repository, namespace = lakefs_service.new_repository("flights")
    environ = {"MLOPS_HOME": str(tmp_path / "mlops"), **lakefs_service.environment(repository, namespace)}
    # Dagster resolves the secret from the process env at run time (dg.EnvVar), as in production.
    monkeypatch.setenv("LAKEFS_SECRET_ACCESS_KEY", lakefs_service.secret_access_key)
    settings = load_settings(environ)
    # As production runs it (deploy/README.md): `setup-store` creates the repository and protects
    # main, so data reaches main only by merges, refused by lakeFS itself otherwise.
    assert "main is protected (rule added)" in store_resource(settings).setup()
    yield settings, lakefs_service, lakefs_service.store(repository, namespace)
    lakefs_service.delete_repository(repository)


def test_materialization_publishes_to_lakefs_main(lakefs_world):
    settings, server, store = lakefs_world
    assert settings.store_backend == "lakefs"
    land(settings, "2013-06-01", "2013-06-02")
    defs = build_definitions(settings)
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("raw_daily").execute_in_process(
            instance=instance, tags={RANGE_START: "2013-06-01", RANGE_END: "2013-06-02"}, run_config=QUIET
        )
        assert result.success
        log_text = "\n".join(str(entry) for entry in instance.all_logs(result.run_id))
        mat = instance.get_latest_materialization_event(dg.AssetKey(["raw", "flights"])).asset_materialization

    for day in ("2013-06-01", "2013-06-02"):
        published = read_table(store, "main", table_path(["raw", "flights"], day))
        assert published.height == expected_rows("flights", day)
    # Metadata links to the lakeFS UI; the commit carries the Dagster run.
    commit_id = mat.metadata["branch_commit_id"].value
    repository = settings.lakefs.repository
    assert mat.metadata["branch_commit_url"].value.endswith(f"/repositories/{repository}/commits/{commit_id}")
    assert store.get_commit(commit_id).metadata["dagster_run_id"] == result.run_id
    assert not [b for b in store.list_branches() if b.name.startswith("wap-")]
    assert server.secret_access_key not in log_text


def test_failed_contract_leaves_lakefs_main_unchanged(lakefs_world):
    settings, server, store = lakefs_world
    land(settings, "2013-06-03", "2013-06-03")
    landed = settings.landing_dir / "flights" / "2013-06-03.parquet"
    broken = pl.read_parquet(landed).with_columns(pl.lit("XXX").alias("origin"))
    broken.write_parquet(landed)
    defs = build_definitions(settings)
    store.ensure_repository()
    main_before = store.get_branch("main").commit_id
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("raw_daily").execute_in_process(
            instance=instance,
            tags={RANGE_START: "2013-06-03", RANGE_END: "2013-06-03"},
            run_config=QUIET,
            raise_on_error=False,
        )
    assert not result.success
    assert not [c for c in store.diff(main_before, "main") if c.path.startswith("raw/flights/")]
    kept = [b.name for b in store.list_branches() if b.name.startswith("wap-") and "raw-flights" in b.name]
    assert kept == [f"wap-{result.run_id}-raw-flights"]


def test_main_is_protected_and_a_direct_write_is_refused_clearly(lakefs_world):
    settings, _, store = lakefs_world
    before = store.get_commit("main").id
    with pytest.raises(StoreError, match="protected, so data reaches it only through a merge"):
        store.write_object("main", "raw/flights/date=2013-01-01/data.parquet", b"not audited")
    with pytest.raises(StoreError, match="protected, so data reaches it only through a merge"):
        store.commit("main", "a direct commit")
    assert store.get_commit("main").id == before and not store.list_objects("main")
    # setup-store again changes nothing; publishing by merge still works (the tests above).
    assert "rule already there" in store_resource(settings).setup()
    # ...and lakeFS holds its retention: main's history (the audit trail) ten years, the rest a week.
    rules = store._repositories.get_gc_rules(settings.lakefs.repository)
    assert rules.default_retention_days == 7
    assert [(rule.branch_id, rule.retention_days) for rule in rules.branches] == [("main", 3650)]
