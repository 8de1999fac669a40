"""The analysts' dbt project, run by Dagster on real DuckDB over the real published tables.

One world is built per module (2013-01-01..14 trained on, 01-15..21 scored and monitored), then
dbt runs over it. Marts are cross-checked against the same aggregation in polars; a broken
upstream and a broken SQL model are tried on copies of the state and of the project.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import date

import dagster as dg
import duckdb
import polars as pl
import pytest
import yaml

from mlops_assets.definitions import build_definitions
from mlops_assets.errors import MlopsError
from mlops_assets.lib.analytics import lock_timeout_failures, warehouse_lock
from mlops_assets.lib.model_spec import load_specs
from mlops_assets.lib.versioned_store import LocalStore
from mlops_assets.lib.versioned_store.export import mirrored_commit
from mlops_assets.lib.versioned_store.wap import publish, read_table, table_path, wap_branch
from mlops_assets.settings import MODELS_DIR, Settings, load_settings
from tests.conftest import (
    PROJECT_ROOT,
    QUIET,
    RANGE_END,
    RANGE_START,
    build_world,
    failure_text,
    land,
    materialize,
)

TRAIN = ("2013-01-01", "2013-01-14")
SCORED = ("2013-01-15", "2013-01-21")
SCORED_DAYS = [f"2013-01-{d}" for d in range(15, 22)]
DBT_PROJECT = PROJECT_ROOT / "dbt_project"
MONITORING_TEST = "assert_every_prediction_day_has_monitoring_report"


def _key(*parts: str) -> dg.AssetKey:
    return dg.AssetKey(list(parts))


def run_dbt(defs: dg.Definitions, instance: dg.DagsterInstance, first: str, last: str):
    return defs.resolve_job_def("dbt_marts").execute_in_process(
        instance=instance, tags={RANGE_START: first, RANGE_END: last}, run_config=QUIET, raise_on_error=False
    )


def warehouse(settings: Settings, sql: str) -> pl.DataFrame:
    with duckdb.connect(str(settings.dbt_warehouse_path), read_only=True) as con:
        return con.sql(sql).pl()


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[tuple[Settings, dg.Definitions, dg.DagsterInstance]]:
    """Trained models, and a scored + monitored week published on main (no dbt run yet)."""
    settings = load_settings({"MLOPS_HOME": str(tmp_path_factory.mktemp("dbt") / "mlops")})
    with dg.instance_for_test() as instance:
        defs = build_world(settings, instance, *TRAIN)
        assert (
            defs.resolve_job_def("train_models")
            .execute_in_process(instance=instance, run_config=QUIET)
            .success
        )
        land(settings, *SCORED)
        result = defs.resolve_job_def("daily_assets").execute_in_process(
            instance=instance,
            tags={RANGE_START: SCORED[0], RANGE_END: SCORED[1]},
            run_config=QUIET,
            raise_on_error=False,
        )
        assert result.success, failure_text(result)
        yield settings, defs, instance


@pytest.fixture(scope="module")
def built(world):
    settings, defs, instance = world
    result = run_dbt(defs, instance, *SCORED)
    assert result.success, failure_text(result)
    return settings, defs, instance, result


def test_dbt_build_passes_on_platform_data_and_records_what_it_read(built):
    settings, defs, _, result = built
    dbt_keys = {k for k in defs.resolve_asset_graph().get_all_asset_keys() if k.path[0] == "dbt"}
    materialized = [e.event_specific_data.materialization for e in result.get_asset_materialization_events()]
    assert {m.asset_key for m in materialized} == dbt_keys
    assert {m.partition for m in materialized} == set(SCORED_DAYS)  # one single run over the range
    main = LocalStore(settings.local_store_dir).get_commit("main").id
    assert {m.metadata["source_commit"].value for m in materialized} == {main}
    assert mirrored_commit(settings.published_dir) == main

    checks = result.get_asset_check_evaluations()
    assert len(checks) >= 40 and all(c.passed for c in checks), [c.check_name for c in checks if not c.passed]
    assert any(c.check_name == MONITORING_TEST for c in checks)
    assert all(c.metadata["dagster_dbt/failed_row_count"].value == 0 for c in checks)

    days = warehouse(
        settings,
        "select spec, count(distinct date) as days from marts.fct_model_daily_performance group by spec",
    )
    assert dict(days.iter_rows()) == {"late_arrival": 7, "arrival_delay": 7}
    lineage = warehouse(settings, "select * from marts.dim_model_versions order by version_key")
    assert lineage["days_served"].to_list() == [7, 7]
    assert lineage["first_served"].to_list() == [date(2013, 1, 15)] * 2
    assert lineage["is_serving_now"].all()
    # Trained on exactly the features of main before scoring began.
    assert set(lineage["training_commit"]) <= {c.id for c in LocalStore(settings.local_store_dir).log("main")}


def test_daily_performance_mart_equals_the_same_aggregation_in_polars(built):
    settings, *_ = built
    published = settings.published_dir
    flights = pl.read_parquet(published / "raw/flights/date=*/data.parquet").select(
        pl.format(
            "{}-{}{}-{}",
            pl.date(pl.col("year"), pl.col("month"), pl.col("day")).dt.strftime("%Y-%m-%d"),
            pl.col("carrier"),
            pl.col("flight"),
            pl.col("origin"),
        ).alias("flight_id"),
        "arr_delay",
    )
    late = (
        pl.read_parquet(published / "predictions/late_arrival/date=*/data.parquet")
        .join(flights, on="flight_id", how="left")
        .with_columns(actual=(pl.col("arr_delay") >= 15).cast(pl.Float64))
        .group_by("date")
        .agg(
            n_predictions=pl.len(),
            n_labelled=pl.col("actual").count(),
            accuracy=(pl.col("prediction") == pl.col("actual")).filter(pl.col("actual").is_not_null()).mean(),
            brier_score=((pl.col("score") - pl.col("actual")) ** 2).mean(),
        )
        .sort("date")
    )
    delay = (
        pl.read_parquet(published / "predictions/arrival_delay/date=*/data.parquet")
        .join(flights, on="flight_id", how="left")
        .group_by("date")
        .agg(
            mae=(pl.col("score") - pl.col("arr_delay")).abs().mean(),
            rmse=((pl.col("score") - pl.col("arr_delay")) ** 2).mean().sqrt(),
        )
        .sort("date")
    )
    mart = warehouse(settings, "select * from marts.fct_model_daily_performance order by spec, date")
    mart_late = mart.filter(pl.col("spec") == "late_arrival")
    mart_delay = mart.filter(pl.col("spec") == "arrival_delay")
    assert mart_late["n_predictions"].to_list() == late["n_predictions"].to_list()
    assert mart_late["n_labelled"].to_list() == late["n_labelled"].to_list()
    for column, expected in (("accuracy", late), ("brier_score", late), ("mae", delay), ("rmse", delay)):
        got = (mart_late if expected is late else mart_delay)[column].to_numpy()
        assert got == pytest.approx(expected[column].to_numpy(), rel=1e-9), column
    # By carrier, the segment mart adds up to the same counts.
    by_carrier = warehouse(
        settings,
        "select carrier, sum(n_predictions)::bigint as n from marts.fct_predictions_vs_actuals "
        "where spec = 'late_arrival' group by carrier order by carrier",
    )
    scored = pl.read_parquet(published / "features/flight_features/date=*/data.parquet").join(
        pl.read_parquet(published / "predictions/late_arrival/date=*/data.parquet").select("flight_id"),
        on="flight_id",
    )
    expected = scored.group_by("carrier").agg(n=pl.len().cast(pl.Int64)).sort("carrier")
    assert by_carrier.to_dicts() == expected.to_dicts()


def test_model_health_mart_has_the_figures_of_the_overview(built):
    """fct_model_health keeps, day by day, what monitoring/overview shows for each model's latest day."""
    settings, defs, instance, _ = built
    summaries = defs.resolve_job_def("monitoring_summaries").execute_in_process(
        instance=instance, run_config=QUIET, raise_on_error=False
    )
    assert summaries.success, failure_text(summaries)
    overview = read_table(
        LocalStore(settings.local_store_dir), "main", table_path(["monitoring", "overview"], None)
    )
    mart = warehouse(settings, "select * from marts.fct_model_health order by spec, date")
    assert dict(mart.group_by("spec").len().iter_rows()) == {"late_arrival": 7, "arrival_delay": 7}
    assert len(overview) == 2
    same = [
        "task",
        "metric",
        "rows_scored",
        "volume_floor",
        "volume_alert",
        "latency_ms_per_100_p50",
        "latency_ms_per_100_p95",
        "holdout_score",
        "estimated_score",
        "estimated_lower",
        "estimated_upper",
        "data_quality_warnings",
    ]
    for row in overview.iter_rows(named=True):
        days = mart.filter(pl.col("spec") == row["spec"])
        latest = days.filter(pl.col("date") == row["latest_day"]).row(0, named=True)
        assert {c: latest[c] for c in same} == {c: row[c] for c in same}, row["spec"]
        assert latest["model_version"] == row["serving_version"]
        assert latest["model_age_days"] == row["champion_age_days"]
        assert latest["retrain_trigger"] == row["last_retrain_trigger"]
        assert latest["realized_score"] is None  # the last day's labels are pending; the estimate is there
        realized = days.filter(pl.col("date") == row["realized_day"]).row(0, named=True)
        assert realized["realized_score"] == row["realized_score"]
        assert realized["estimation_error"] == pytest.approx(
            realized["realized_score"] - realized["estimated_score"]
        )


def test_a_partition_run_rebuilds_only_its_window(built):
    settings, defs, instance, _ = built
    with duckdb.connect(str(settings.dbt_warehouse_path)) as con:  # mark two days by hand
        con.sql(
            "update marts.fct_model_daily_performance set n_predictions = -1 where date in ('2013-01-16', '2013-01-18')"
        )
    result = run_dbt(defs, instance, "2013-01-16", "2013-01-16")
    assert result.success, failure_text(result)
    marked = warehouse(
        settings, "select date, n_predictions from marts.fct_model_daily_performance where n_predictions = -1"
    )
    assert set(marked["date"]) == {date(2013, 1, 18)}  # 01-16 rebuilt, 01-18 outside the window untouched
    counts = warehouse(
        settings, "select date, count(*) as n from marts.fct_model_daily_performance group by date"
    )
    assert set(counts["n"]) == {2}  # nothing doubled


def test_dbt_models_sit_downstream_of_our_assets_in_the_graph(world):
    _, defs, _ = world
    graph = defs.resolve_asset_graph()
    assert (
        _key("predictions", "late_arrival")
        in graph.get(_key("dbt", "staging", "stg_predictions")).parent_keys
    )
    assert _key("raw", "flights") in graph.get(_key("dbt", "staging", "stg_flights")).parent_keys
    assert (
        _key("monitoring", "arrival_delay", "daily_report")
        in graph.get(_key("dbt", "staging", "stg_monitoring_reports")).parent_keys
    )
    assert (
        _key("models", "late_arrival") in graph.get(_key("dbt", "staging", "stg_model_versions")).parent_keys
    )
    marts = graph.get(_key("dbt", "marts", "fct_model_daily_performance"))
    assert marts.group_name == "dbt" and {"dbt", "duckdb"} <= set(marts.kinds)
    assert marts.partitions_def is not None and marts.description.startswith("Daily performance")
    assert _key("dbt", "staging", "stg_predictions") in marts.parent_keys


def test_a_hole_in_monitoring_fails_the_custom_dbt_test_with_its_row_count(world, tmp_path):
    """A temp copy of the state where one scored day lost its monitoring report on main."""
    settings, _, _ = world
    broken = load_settings({"MLOPS_HOME": str(tmp_path / "mlops")})
    shutil.copytree(settings.home, broken.home, ignore=shutil.ignore_patterns("published", "dbt"))
    store = LocalStore(broken.local_store_dir)
    branch = wap_branch("test-hole", ["monitoring", "late_arrival", "daily_report"])
    store.create_branch(branch)
    store.delete_object(branch, table_path(["monitoring", "late_arrival", "daily_report"], "2013-01-17"))
    store.commit(branch, "monitoring of 2013-01-17 lost")
    publish(store, branch, "monitoring of 2013-01-17 lost", {})

    with dg.instance_for_test() as instance:
        result = run_dbt(build_definitions(broken), instance, *SCORED)
    assert not result.success  # dbt build exits non-zero on a failing test
    failed = [c for c in result.get_asset_check_evaluations() if not c.passed]
    assert [(c.asset_key, c.check_name) for c in failed] == [
        (_key("dbt", "marts", "fct_drift_history"), MONITORING_TEST)
    ]
    assert failed[0].metadata["dagster_dbt/failed_row_count"].value == 1
    assert failed[0].severity == dg.AssetCheckSeverity.ERROR


def test_a_broken_sql_model_fails_with_the_dbt_error_and_others_still_build(world, tmp_path):
    settings, _, _ = world
    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT, project, ignore=shutil.ignore_patterns("target", "logs"))
    model = project / "models" / "marts" / "fct_champion_history.sql"
    model.write_text(model.read_text().replace("count(*) as days_served", "count(*) as days_served,,"))
    broken = load_settings(
        {
            "MLOPS_HOME": str(settings.home),
            "MLOPS_DBT_PROJECT_DIR": str(project),
            "MLOPS_DBT_WAREHOUSE": str(tmp_path / "warehouse.duckdb"),
        }
    )
    with dg.instance_for_test() as instance:
        result = run_dbt(build_definitions(broken), instance, *SCORED)
        logs = "\n".join(str(e.message) for e in instance.all_logs(result.run_id) if e.message)
    assert not result.success
    error = failure_text(result)  # what the run page shows for the failed step: dbt's own error
    assert "Runtime Error in model fct_champion_history" in error and "syntax error" in error.lower()
    assert "fct_champion_history" in logs
    built_keys = {
        e.event_specific_data.materialization.asset_key for e in result.get_asset_materialization_events()
    }
    assert _key("dbt", "marts", "fct_drift_history") in built_keys
    assert _key("dbt", "marts", "fct_model_daily_performance") in built_keys
    assert _key("dbt", "marts", "fct_champion_history") not in built_keys


def test_dbt_project_names_no_model_and_turns_tracking_off():
    """Adding or removing a model needs no dbt edit: no file of the project names one, and the
    per-model tables are read by one source per kind, expanded to every model's asset."""
    project = yaml.safe_load((DBT_PROJECT / "dbt_project.yml").read_text())
    assert project["flags"]["send_anonymous_usage_stats"] is False
    assert "specs" not in (project.get("vars") or {})
    specs = load_specs(MODELS_DIR)
    for path in [
        *(DBT_PROJECT / "models").rglob("*.*"),
        *(DBT_PROJECT / "macros").rglob("*.*"),
        DBT_PROJECT / "dbt_project.yml",
    ]:
        text = path.read_text()
        assert not [name for name in specs if name in text], f"{path} names a model"
    sources = yaml.safe_load((DBT_PROJECT / "models" / "staging" / "_sources.yml").read_text())["sources"][0][
        "tables"
    ]
    per_model = {t["name"]: t["meta"]["mlops"]["per_model"] for t in sources if "mlops" in t.get("meta", {})}
    assert per_model == {
        "predictions": ["predictions", "{model}"],
        "monitoring_reports": ["monitoring", "{model}", "daily_report"],
        "model_versions": ["models", "{model}"],
    }


def test_every_dbt_model_and_column_is_described(built):
    settings, *_ = built
    documented: dict[str, list[str]] = {}
    for path in (DBT_PROJECT / "models").rglob("_*.yml"):
        for model in yaml.safe_load(path.read_text()).get("models", []):
            assert model.get("description"), f"{path.name}: {model['name']} has no description"
            assert all(c.get("description") for c in model["columns"]), f"{path.name}: {model['name']}"
            documented[model["name"]] = [c["name"] for c in model["columns"]]
    assert set(documented) == {p.stem for p in (DBT_PROJECT / "models").rglob("*.sql")}
    built_columns = warehouse(
        settings,
        "select table_name, list(column_name order by ordinal_position) as columns "
        "from information_schema.columns where table_schema in ('staging', 'marts') group by table_name",
    )
    assert dict(built_columns.iter_rows()) == documented  # every built column, in order, and no other


def test_a_second_dbt_run_waits_for_the_warehouse(tmp_path):
    """Another process (a Dagster run or the CLI) holds the warehouse: we wait, bounded, then go."""
    warehouse_path = tmp_path / "warehouse.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import sys, time, pathlib\n"
                "from mlops_assets.lib.analytics import warehouse_lock\n"
                "with warehouse_lock(pathlib.Path(sys.argv[1])):\n"
                "    print('held', flush=True)\n"
                "    time.sleep(3)\n"
            ),
            str(warehouse_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=PROJECT_ROOT,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(MlopsError, match="another dbt run has held the warehouse"):
            with warehouse_lock(warehouse_path, timeout_s=0.5):
                pass
        with warehouse_lock(warehouse_path, timeout_s=30) as waited_s:
            assert waited_s > 0.5  # got it only once the holder let go
        assert holder.wait(timeout=10) == 0
    finally:
        holder.kill()
        holder.wait(timeout=10)


def test_bad_upstream_data_never_reaches_the_marts(built):
    """A bad landed day, run from raw all the way to the marts in one run: the raw contract (a
    blocking check) fails, nothing downstream runs for that day and the warehouse has no row of it."""
    settings, defs, instance, _ = built
    bad_day = "2013-01-22"
    land(settings, bad_day, bad_day)
    landed = settings.landing_dir / "flights" / f"{bad_day}.parquet"
    pl.read_parquet(landed).with_columns(
        pl.when(pl.int_range(pl.len()) == 2).then(-100.0).otherwise(pl.col("distance")).alias("distance")
    ).write_parquet(landed)
    graph = defs.resolve_asset_graph()
    selection = [k for k in graph.get_all_asset_keys() if graph.get(k).partitions_def is not None]
    result = materialize(defs, instance, selection, **{RANGE_START: bad_day, RANGE_END: bad_day})

    assert not result.success
    failed = [(c.asset_key, c.check_name) for c in result.get_asset_check_evaluations() if not c.passed]
    assert failed == [(_key("raw", "flights"), "contract")]
    materialized = {
        e.event_specific_data.materialization.asset_key for e in result.get_asset_materialization_events()
    }
    assert not [k for k in materialized if k.path[0] in ("features", "predictions", "monitoring", "dbt")]
    assert not LocalStore(settings.local_store_dir).object_exists(
        "main", table_path(["raw", "flights"], bad_day)
    )
    rows = warehouse(
        settings, f"select count(*) as n from marts.fct_predictions_vs_actuals where date = '{bad_day}'"
    )
    assert rows["n"].item() == 0


class _FreeFormKeys(LocalStore):
    """A local store listing one more object under a key lakeFS accepts and the local store refuses."""

    def __init__(self, root, key: str, data: bytes):
        super().__init__(root)
        self.key, self.data = key, data

    def list_objects(self, ref: str, prefix: str = ""):
        from mlops_assets.lib.versioned_store.base import ObjectInfo

        return [*super().list_objects(ref, prefix), ObjectInfo(self.key, "free-form", len(self.data))]

    def read_object(self, ref: str, path: str) -> bytes:
        return self.data if path == self.key else super().read_object(ref, path)


@pytest.mark.parametrize(
    "key",
    ["../escaped/data.parquet", "predictions/../../../escaped/data.parquet", "/tmp/escaped/data.parquet"],
)
def test_a_store_key_that_escapes_the_mirror_is_refused_and_nothing_is_written(tmp_path, key):
    """lakeFS keys are free-form: a key with '..' must not make the mirror write outside its folder."""
    from mlops_assets.errors import MirrorPathError
    from mlops_assets.lib.versioned_store.export import sync_mirror
    from mlops_assets.lib.versioned_store.wap import encode_table, stage

    table = encode_table(pl.DataFrame({"value": [1]}))
    store = _FreeFormKeys(tmp_path / "store", key.replace("/tmp/", f"{tmp_path}/"), table)
    store.ensure_repository()
    branch = wap_branch("0f0e0d0c-0b0a-4908-8706-050403020100", ["predictions"])
    stage(store, branch, {table_path(["predictions", "ok"], None): table}, "escape", {})
    publish(store, branch, "escape", {})
    mirror = tmp_path / "published" / "mirror"

    with pytest.raises(MirrorPathError) as refused:
        sync_mirror(store, mirror)
    assert f"object key {store.key!r} would be mirrored at" in str(refused.value)
    assert "outside the mirror" in str(refused.value)
    assert not list(tmp_path.rglob("escaped"))  # nothing outside the mirror
    assert not (mirror / "predictions").exists()  # nor inside it: refused before the first write
    assert mirrored_commit(mirror) is None


LOCK_TIMEOUT_MESSAGE = (
    "Runtime Error in model dim_model_versions (models/marts/dim_model_versions.sql)\n"
    '  Failed to execute query "ALTER TABLE "marts"."dim_model_versions" RENAME TO '
    '"dim_model_versions__dbt_backup"": ERROR:  canceling statement due to lock timeout'
)


def node(name: str, status: str, message: str | None = None) -> dict:
    return {"unique_id": f"model.mlops_analytics.{name}", "status": status, "message": message}


@pytest.mark.parametrize(
    ("results", "locked"),
    [
        # What dbt-duckdb reported against the real Postgres (tests/test_warehouse.py).
        (
            [node("dim_model_versions", "error", LOCK_TIMEOUT_MESSAGE), node("x", "skipped")],
            ["dim_model_versions"],
        ),
        (
            [node("a", "success"), node("dim_model_versions", "error", LOCK_TIMEOUT_MESSAGE)],
            ["dim_model_versions"],
        ),
        # A lock timeout beside another failure: a retry would not mend the other one.
        ([node("dim_model_versions", "error", LOCK_TIMEOUT_MESSAGE), node("b", "error", "Binder Error")], []),
        ([node("b", "error", "canceling statement due to statement timeout")], []),
        ([node("t", "fail", "Got 3 results, configured to fail if != 0")], []),
        ([node("a", "success")], []),
        ([], []),
    ],
)
def test_only_a_run_failed_on_lock_timeouts_alone_is_one_to_retry(results, locked):
    assert lock_timeout_failures({"results": results}) == locked
