"""Predictions and monitoring: drift flagged on exactly the shifted features, delayed labels, HTML, bad input."""

from __future__ import annotations

import shutil
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from sklearn.metrics import roc_auc_score

from mlops_assets.definitions import build_definitions
from mlops_assets.lib.landing import land_days
from mlops_assets.lib.model_spec import load_spec
from mlops_assets.lib.monitoring import summarize
from mlops_assets.lib.versioned_store import LocalStore
from mlops_assets.lib.versioned_store.wap import read_table, table_path
from mlops_assets.platform.resources import store_resource
from mlops_assets.settings import MODELS_DIR, load_settings
from mlops_assets.store_browser import StoreBrowser
from tests.browser import launched_browser
from tests.conftest import (
    DATA_KEYS,
    QUIET,
    RANGE_END,
    RANGE_START,
    build_world,
    data_version,
    failure_text,
)
from tests.store_links import fetch, object_of

WEEK = [f"2013-03-{d}" for d in range(22, 29)]
REPORT = ["monitoring", "late_arrival", "daily_report"]
SUMMARY = dg.AssetKey(["monitoring", "late_arrival", "summary"])


def _shift_week(landing: Path) -> None:
    """Upstream changes: every scheduled arrival moves 150 minutes later (so the block time of every
    flight grows) and the air pressure reads 15 mb higher (weather: drift-exempt); both are features
    of late_arrival only, so arrival_delay stays healthy."""
    arrival = (pl.col("sched_arr_time") // 100 * 60 + pl.col("sched_arr_time") % 100 + 150) % 1440
    for day in WEEK:
        path = landing / "flights" / f"{day}.parquet"
        pl.read_parquet(path).with_columns(
            (arrival // 60 * 100 + arrival % 60)
            .cast(pl.read_parquet_schema(path)["sched_arr_time"])
            .alias("sched_arr_time")
        ).write_parquet(path)
        weather = landing / "weather" / f"{day}.parquet"
        pl.read_parquet(weather).with_columns(pl.col("pressure") + 15).write_parquet(weather)


def _score_week(settings, instance) -> dg.ExecuteInProcessResult:
    defs = build_definitions(settings)
    result = defs.resolve_job_def("daily_assets").execute_in_process(
        instance=instance,
        tags={RANGE_START: WEEK[0], RANGE_END: WEEK[-1]},
        run_config=QUIET,
        raise_on_error=False,
    )
    assert result.success, failure_text(result)
    summaries = defs.resolve_job_def("monitoring_summaries").execute_in_process(
        instance=instance, run_config=QUIET, raise_on_error=False
    )
    assert summaries.success, failure_text(summaries)
    return result


@pytest.fixture(scope="module")
def worlds(tmp_path_factory):
    """Models trained on 2013-03-01..21; the next week scored as delivered (A) and shifted (B)."""
    root = tmp_path_factory.mktemp("monitoring")
    # Each world's reports open from its links, as under `make dev`: a store browser on a free port.
    browse_a = StoreBrowser(LocalStore(root / "a" / "store"))
    browse_b = StoreBrowser(LocalStore(root / "b" / "store"))
    normal = load_settings({"MLOPS_HOME": str(root / "a"), "MLOPS_STORE_UI_URL": browse_a.url})
    with browse_a, browse_b, dg.instance_for_test() as instance:
        defs = build_world(normal, instance, "2013-03-01", "2013-03-21")
        assert (
            defs.resolve_job_def("train_models")
            .execute_in_process(instance=instance, run_config=QUIET)
            .success
        )
        land_days(normal.landing_dir, date(2013, 3, 22), date(2013, 3, 28))
        shutil.copytree(root / "a", root / "b")
        shifted = load_settings({"MLOPS_HOME": str(root / "b"), "MLOPS_STORE_UI_URL": browse_b.url})
        _shift_week(shifted.landing_dir)
        normal_result = _score_week(normal, instance)
        with dg.instance_for_test() as shifted_instance:
            _score_week(shifted, shifted_instance)
        yield {"a": normal, "b": shifted, "instance": instance, "result": normal_result}


def _reports(settings) -> pl.DataFrame:
    store = LocalStore(settings.local_store_dir)
    return pl.concat(read_table(store, "main", table_path(REPORT, day)) for day in WEEK)


def _summary(settings) -> dict:
    return read_table(LocalStore(settings.local_store_dir), "main", table_path(SUMMARY.path, None)).row(
        0, named=True
    )


def test_predictions_use_the_champion_and_record_latency_and_volume(worlds):
    settings, instance = worlds["a"], worlds["instance"]
    store = LocalStore(settings.local_store_dir)
    for day in WEEK:
        predictions = read_table(store, "main", table_path(["predictions", "late_arrival"], day))
        features = read_table(store, "main", table_path(["features", "flight_features"], day))
        assert predictions.height == features.height
        assert predictions["model_version"].unique().to_list() == [1]
        assert predictions["score"].is_between(0, 1).all()
    mat = (
        instance.fetch_materializations(
            dg.AssetRecordsFilter(
                asset_key=dg.AssetKey(["predictions", "late_arrival"]), asset_partitions=[WEEK[3]]
            ),
            limit=1,
        )
        .records[0]
        .asset_materialization
    )
    assert mat.metadata["rows_scored"].value == float(
        read_table(store, "main", table_path(["predictions", "late_arrival"], WEEK[3])).height
    )
    assert 0 < mat.metadata["latency_ms_per_100_p50"].value <= mat.metadata["latency_ms_per_100_p95"].value
    # Each day's report carries the latency of the run that scored that day (looked up once per range).
    report = read_table(store, "main", table_path(REPORT, WEEK[3]))
    latency = dict(
        report.filter(pl.col("metric").str.starts_with("latency")).select("metric", "value").iter_rows()
    )
    assert latency == {
        "latency_ms_per_100_p50": mat.metadata["latency_ms_per_100_p50"].value,
        "latency_ms_per_100_p95": mat.metadata["latency_ms_per_100_p95"].value,
    }


def test_the_week_as_delivered_raises_no_drift(worlds):
    reports = _reports(worlds["a"])
    assert reports.filter(pl.col("status") == "drift").height == 0
    assert _summary(worlds["a"])["verdict"] != "drift"


def test_shifted_features_are_flagged_exactly_and_the_summary_says_drift(worlds):
    reports = _reports(worlds["b"])
    flagged = set(reports.filter(pl.col("status") == "drift")["feature"].to_list())
    assert flagged == {"sched_block_minutes"}  # pressure moved too, but weather is drift-exempt in the spec
    pressure_psi = reports.filter((pl.col("metric") == "psi") & (pl.col("feature") == "pressure"))
    assert (pressure_psi["value"] > 0.2).all() and (pressure_psi["status"] == "info").all()
    summary = _summary(worlds["b"])
    assert summary["verdict"] == "drift"
    assert summary["drifting_features"] == "sched_block_minutes"
    assert "drifted on at least 4 of v1's last 7 day(s)" in summary["reason"]


def test_performance_is_pending_until_labels_land_then_filled(worlds):
    settings, instance = worlds["a"], worlds["instance"]
    store = LocalStore(settings.local_store_dir)
    last = read_table(store, "main", table_path(REPORT, WEEK[-1]))
    assert last.filter(pl.col("metric") == "roc_auc")["status"].to_list() == ["pending"]
    assert last.filter(pl.col("metric") == "roc_auc")["value"].to_list() == [None]
    # Before the labels: the estimate, its band, and the limit it is judged against.
    pending_estimate = _estimate(last, "roc_auc")
    assert 0.5 < pending_estimate["value"] < 1
    assert pending_estimate["lower"] <= pending_estimate["value"] <= pending_estimate["upper"]
    assert pending_estimate["status"] in ("ok", "warn") and pending_estimate["threshold"] is not None
    delay = read_table(store, "main", table_path(["monitoring", "arrival_delay", "daily_report"], WEEK[-1]))
    assert 0 < _estimate(delay, "mae")["value"] < 120  # minutes
    assert delay.filter(pl.col("metric") == "mae")["value"].to_list() == [None]
    pending_metadata = _report_metadata(instance, WEEK[-1])
    assert pending_metadata["estimated_roc_auc"] == pytest.approx(pending_estimate["value"])
    assert "roc_auc" not in pending_metadata and pending_metadata["labels"] == "pending"

    # The next day's delivery brings the labels of 2013-03-28; the report is materialized again.
    land_days(settings.landing_dir, date(2013, 3, 29), date(2013, 3, 29))
    defs = build_definitions(settings)
    assert (
        defs.resolve_job_def("daily_assets")
        .execute_in_process(
            instance=instance, partition_key="2013-03-29", asset_selection=DATA_KEYS, run_config=QUIET
        )
        .success
    )
    assert (
        defs.resolve_job_def("daily_assets")
        .execute_in_process(
            instance=instance, partition_key=WEEK[-1], asset_selection=[dg.AssetKey(REPORT)], run_config=QUIET
        )
        .success
    )
    report = read_table(store, "main", table_path(REPORT, WEEK[-1]))
    roc_auc = report.filter(pl.col("metric") == "roc_auc").row(0, named=True)
    assert roc_auc["status"] in ("ok", "decay")

    # By hand: the day's published predictions against the labels in its features.
    predictions = read_table(store, "main", table_path(["predictions", "late_arrival"], WEEK[-1]))
    features = read_table(store, "main", table_path(["features", "flight_features"], WEEK[-1]))
    labelled = predictions.join(features.select("flight_id", "arr_delay"), on="flight_id").drop_nulls(
        "arr_delay"
    )
    expected = roc_auc_score(
        (labelled["arr_delay"] >= 15).cast(pl.Int8).to_numpy(), labelled["score"].to_numpy()
    )
    assert roc_auc["value"] == pytest.approx(expected, abs=1e-12)
    # The estimate stays (it never read labels), next to the realized value, in the table and the metadata.
    assert _estimate(report, "roc_auc") == pending_estimate
    landed_metadata = _report_metadata(instance, WEEK[-1])
    assert landed_metadata["roc_auc"] == pytest.approx(expected, abs=1e-12)
    assert landed_metadata["estimated_roc_auc"] == pytest.approx(pending_estimate["value"])


def _estimate(report: pl.DataFrame, metric: str) -> dict:
    rows = {
        r["metric"]: r
        for r in report.filter(pl.col("metric").str.starts_with(f"estimated_{metric}")).to_dicts()
    }
    main = rows[f"estimated_{metric}"]
    return {
        "value": main["value"],
        "threshold": main["threshold"],
        "status": main["status"],
        "lower": rows[f"estimated_{metric}_lower"]["value"],
        "upper": rows[f"estimated_{metric}_upper"]["value"],
    }


def _report_metadata(instance: dg.DagsterInstance, day: str) -> dict:
    record = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(REPORT), asset_partitions=[day]), limit=1
    ).records[0]
    return {k: v.value for k, v in record.asset_materialization.metadata.items()}


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.links += [v for k, v in attrs if k in ("src", "href") and v]


def test_html_report_is_self_contained_with_plots_and_numbers(worlds):
    """The day's page is an object of the store beside its table, linked from the day's
    materialization, and opens from that link as HTML."""
    settings = worlds["a"]
    link = _report_metadata(worlds["instance"], WEEK[2])["html_report"]
    ref, path = object_of(link)
    assert path == f"monitoring/late_arrival/daily_report/date={WEEK[2]}/report.html"
    store = LocalStore(settings.local_store_dir)
    assert store.read_object("main", path) == store.read_object(ref, path)  # what was published
    kind, body = fetch(link)
    assert kind == "text/html"
    text = body.decode()
    parser = _Collector()
    parser.feed(text)
    assert parser.tags.count("svg") >= 3  # PSI, KS and score distribution
    assert parser.links == [] and "<script" not in text  # nothing to fetch: opens offline
    psi = _reports(settings).filter(
        (pl.col("date") == date.fromisoformat(WEEK[2]))
        & (pl.col("metric") == "psi")
        & (pl.col("feature") == "sched_block_minutes")
    )
    assert f"{psi['value'][0]:.4f}" in text


def test_missing_prediction_partition_is_a_clear_error(worlds):
    settings, instance = worlds["a"], worlds["instance"]
    defs = build_definitions(settings)
    result = defs.resolve_job_def("daily_assets").execute_in_process(
        instance=instance,
        partition_key="2013-03-29",
        asset_selection=[dg.AssetKey(REPORT)],
        run_config=QUIET,
        raise_on_error=False,
    )
    assert not result.success
    assert "predictions/late_arrival partition 2013-03-29 is not published" in failure_text(result)


def test_missing_reference_profile_is_a_clear_error(worlds, tmp_path):
    home = tmp_path / "c"
    shutil.copytree(worlds["a"].home, home)
    settings = load_settings({"MLOPS_HOME": str(home)})
    for profile in (worlds["a"].mlflow_artifact_dir / "late_arrival").rglob("reference_profile.json"):
        profile.rename(profile.with_suffix(".moved"))
    try:
        with dg.instance_for_test() as instance:
            result = (
                build_definitions(settings)
                .resolve_job_def("daily_assets")
                .execute_in_process(
                    instance=instance,
                    partition_key=WEEK[0],
                    asset_selection=[dg.AssetKey(REPORT)],
                    run_config=QUIET,
                    raise_on_error=False,
                )
            )
    finally:
        for moved in (worlds["a"].mlflow_artifact_dir / "late_arrival").rglob("reference_profile.moved"):
            moved.rename(moved.with_suffix(".json"))
    assert not result.success
    assert "v1: no monitoring/reference_profile.json in its MLflow run" in failure_text(result)


def _report_rows(day: str, version: int, auc: float | None, drifting: bool) -> list[dict]:
    """One day's long report rows: the promotion metric (threshold 0.70) and one feature's PSI."""
    return [
        {
            "date": date.fromisoformat(day),
            "spec": "late_arrival",
            "model_version": version,
            "metric": "roc_auc",
            "feature": None,
            "value": auc,
            "threshold": 0.70 if version == 2 else 0.60,
            "status": "pending" if auc is None else "ok",
        },
        {
            "date": date.fromisoformat(day),
            "spec": "late_arrival",
            "model_version": version,
            "metric": "psi",
            "feature": "distance",
            "value": 0.5 if drifting else 0.01,
            "threshold": 0.2,
            "status": "drift" if drifting else "ok",
        },
    ]


def test_summary_judges_the_serving_version_and_says_when_it_changed():
    """v1 drifted and decayed on its days; v2 took over inside the window and is fine: the summary
    judges v2 alone (its own threshold), and says which version served which days."""
    spec = load_spec(MODELS_DIR / "late_arrival")
    rows = []
    for n in range(15, 19):  # v1: drifting, its ROC AUC under any threshold
        rows += _report_rows(f"2013-01-{n}", 1, 0.50, drifting=True)
    for n in range(19, 22):  # v2: healthy; the last day's labels are pending
        rows += _report_rows(f"2013-01-{n}", 2, 0.75 if n < 21 else None, drifting=False)
    summary = summarize(spec, pl.DataFrame(rows))
    assert summary["model_version"] == 2
    assert summary["verdict"] == "ok", summary["reason"]
    assert (summary["window_start"], summary["days"]) == (date(2013, 1, 19), 3)
    assert summary["score_threshold"] == 0.70 and summary["labelled_days"] == 2
    assert summary["versions_in_window"] == "v1 2013-01-15..2013-01-18, v2 2013-01-19..2013-01-21"
    assert "the serving version changed inside the window" in summary["reason"]

    one_version = summarize(spec, pl.DataFrame([r for r in rows if r["model_version"] == 1]))
    assert one_version["verdict"] == "drift" and "changed" not in one_version["reason"]


def test_estimated_decay_warns_early_and_retrains_only_when_the_spec_says_so():
    """Labels are pending on every day, the estimates are past the limit: the summary warns
    (estimated_decay) with verdict ok; with monitoring.retrain_on_estimated_decay it says decay."""
    spec = load_spec(MODELS_DIR / "late_arrival")
    rows = []
    for n in range(15, 20):
        rows += _report_rows(f"2013-01-{n}", 2, None, drifting=False)
        rows.append(
            {
                **rows[-2],
                "metric": "estimated_roc_auc",
                "value": 0.62 if n > 16 else 0.66,
                "threshold": 0.65,
                "status": "warn" if n > 16 else "ok",
            }
        )
    frame = pl.DataFrame(rows)
    summary = summarize(spec, frame)
    assert summary["verdict"] == "ok" and summary["estimated_decay"] is True
    assert summary["estimated_score"] == pytest.approx((0.66 * 2 + 0.62 * 3) / 5)
    assert "early warning: estimated roc_auc (before labels) 0.6360 over 5 day(s)" in summary["reason"]
    assert summary["mean_score"] is None and summary["labelled_days"] == 0

    switched = spec.model_copy(
        update={"monitoring": spec.monitoring.model_copy(update={"retrain_on_estimated_decay": True})}
    )
    decided = summarize(switched, frame)
    assert decided["verdict"] == "decay"
    assert decided["reason"].endswith("(monitoring.retrain_on_estimated_decay)")

    healthy = frame.with_columns(
        pl.when(pl.col("metric") == "estimated_roc_auc").then(0.70).otherwise(pl.col("value")).alias("value")
    )
    assert summarize(switched, healthy)["verdict"] == "ok"
    assert summarize(switched, healthy)["estimated_decay"] is False


OVERVIEW = ["monitoring", "overview"]


def _overview(settings) -> dict[str, dict]:
    table = read_table(LocalStore(settings.local_store_dir), "main", table_path(OVERVIEW, None))
    return {row["spec"]: row for row in table.to_dicts()}


def _day_value(settings, spec: str, day: str, metric: str) -> float | None:
    report = read_table(
        LocalStore(settings.local_store_dir), "main", table_path(["monitoring", spec, "daily_report"], day)
    )
    rows = report.filter((pl.col("metric") == metric) & pl.col("feature").is_null())
    return rows["value"][0]


def test_the_overview_says_which_model_drifts_with_the_figures_of_its_reports(worlds):
    settings = worlds["b"]  # the shift moved a feature only late_arrival uses
    overview = _overview(settings)
    assert set(overview) == {"late_arrival", "arrival_delay"}
    drifting, healthy = overview["late_arrival"], overview["arrival_delay"]
    assert drifting["state"] == "drifting" and drifting["drifting_features"] == "sched_block_minutes"
    assert drifting["open_alerts"].startswith("summary: drift")
    assert "psi(sched_block_minutes): drift" in drifting["open_alerts"]
    assert healthy["state"] == "healthy", healthy["open_alerts"]
    assert healthy["n_open_alerts"] == 0 and healthy["verdict"] == "ok"
    last, last_labelled = WEEK[-1], WEEK[-2]  # the labels of the last day are pending
    for spec, row in overview.items():
        metric = row["metric"]
        assert row["latest_day"] == date.fromisoformat(last)
        assert row["champion_version"] == row["serving_version"] == row["last_trained_version"] == 1
        assert row["champion_age_days"] == 8  # trained on labelled data up to 03-20, serving 03-28
        assert row["last_retrain_trigger"] == "manual"
        for column, report_metric in (
            ("rows_scored", "rows_scored"),
            ("latency_ms_per_100_p50", "latency_ms_per_100_p50"),
            ("latency_ms_per_100_p95", "latency_ms_per_100_p95"),
            ("estimated_score", f"estimated_{metric}"),
            ("estimated_lower", f"estimated_{metric}_lower"),
            ("estimated_upper", f"estimated_{metric}_upper"),
        ):
            assert row[column] == _day_value(settings, spec, last, report_metric), (spec, column)
        assert row["realized_day"] == date.fromisoformat(last_labelled)
        assert row["realized_score"] == _day_value(settings, spec, last_labelled, metric)
        assert row["volume_alert"] is False and row["rows_scored"] > row["volume_floor"]

    # Without a shift, no model is drifting; the materialization links the page.
    delivered = _overview(worlds["a"])
    assert "drifting" not in {r["state"] for r in delivered.values()}
    record = (
        worlds["instance"]
        .fetch_materializations(dg.AssetKey(OVERVIEW), limit=1)
        .records[0]
        .asset_materialization
    )
    link = record.metadata["html_overview"].value
    assert (
        link.startswith(worlds["a"].store_ui_url)
        and object_of(link)[1] == "monitoring/overview/overview.html"
    )
    assert 'data-spec="late_arrival"' in fetch(link)[1].decode()
    assert record.metadata["models"].value == 2


def test_the_overview_page_shows_a_healthy_and_a_drifting_model_in_a_browser(worlds, tmp_path_factory):
    settings = worlds["b"]
    store = LocalStore(settings.local_store_dir)
    link = store_resource(settings).object_url(
        store, store.get_commit("main").id, "monitoring/overview/overview.html"
    )
    shots = tmp_path_factory.mktemp("overview_screenshots")
    with launched_browser() as browser:
        tab = browser.new_page(viewport={"width": 1600, "height": 900})
        tab.goto(link)
        tab.get_by_text("Model Operations Center", exact=True).wait_for(timeout=10_000)
        assert tab.locator('tr[data-spec="late_arrival"] td.state').inner_text() == "drifting"
        assert tab.locator('tr[data-spec="arrival_delay"] td.state').inner_text() == "healthy"
        assert "2 model(s): 1 drifting, 1 healthy" in tab.locator("p.headline").inner_text()
        assert "sched_block_minutes" in tab.locator('tr[data-spec="late_arrival"]').inner_text()
        shot = shots / "overview.png"
        tab.screenshot(path=str(shot), full_page=True)
        print(f"[ui] screenshot {shot}")
        assert shot.stat().st_size > 10_000
        # The latest day links to that day's report.
        tab.locator('tr[data-spec="late_arrival"] a').click()
        tab.wait_for_load_state()
        assert tab.title() == f"late_arrival monitoring report {WEEK[-1]} (model v1)"


def test_the_days_monitoring_of_every_model_is_one_table_that_the_marts_follow(worlds):
    """monitoring/daily_reports holds every model's report of the day, as main holds them; each dbt
    mart follows it, and no longer each model's report. A day no model has scored fails alone."""
    settings, instance = worlds["a"], worlds["instance"]
    store = LocalStore(settings.local_store_dir)
    defs = build_definitions(settings)
    day_key = dg.AssetKey(["monitoring", "daily_reports"])
    for day in WEEK:
        combined = read_table(store, "main", table_path(day_key.path, day))
        built = next(  # the step's materialization (the check's publication follows it)
            r.asset_materialization.metadata
            for r in instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=day_key, asset_partitions=[day]), limit=5
            ).records
            if "source_commit" in r.asset_materialization.metadata
        )
        source = built["source_commit"].value  # every model's report read at one commit
        assert built["models"].value == 2 and built["models_without_report"].value == 0
        each = pl.concat(
            read_table(store, source, table_path(["monitoring", spec, "daily_report"], day))
            for spec in ("arrival_delay", "late_arrival")
        )
        order = ["spec", "metric", "feature"]
        assert combined.sort(order, nulls_last=True).equals(each.sort(order, nulls_last=True)), day
        main = {o.path: o.checksum for o in store.list_objects("main", table_path(day_key.path, day))}
        assert data_version(instance, day_key, day) == main[table_path(day_key.path, day)], day
    graph = defs.resolve_asset_graph()
    marts = [k for k in graph.get_all_asset_keys() if k.path[0] == "dbt"]
    assert marts and all(day_key in graph.get(k).parent_keys for k in marts)
    for mart in marts:  # the marts' automation looks at the day's monitoring, not at each model's report
        condition = repr(graph.get(mart).automation_condition)
        assert repr(day_key) in condition and "'daily_report'])" not in condition, mart

    trained_on = "2013-03-21"  # the training window's last day: no model scored it
    main_before = {o.path: o.checksum for o in store.list_objects("main", "monitoring/daily_reports/")}
    result = defs.resolve_job_def("rebuild_monitoring").execute_in_process(
        instance=instance,
        asset_selection=[day_key],
        tags={RANGE_START: trained_on, RANGE_END: WEEK[0]},
        run_config=QUIET,
        raise_on_error=False,
    )
    check = next(e for e in result.get_asset_check_evaluations() if e.asset_key == day_key)
    assert not check.passed
    assert check.metadata["failed_partitions"].value == [trained_on]
    assert f"no model's daily report of {trained_on} is published on main" in check.description
    after = {o.path: o.checksum for o in store.list_objects("main", "monitoring/daily_reports/")}
    assert after == main_before  # the scored days are unchanged, the unscored day is not published
    with pytest.raises(Exception, match=f"no model's daily report of {trained_on}"):
        defs.resolve_job_def("rebuild_monitoring").execute_in_process(
            instance=instance, asset_selection=[day_key], partition_key=trained_on, run_config=QUIET
        )


def test_rescoring_identical_inputs_keeps_the_data_version(worlds):
    """Scores carry no scoring time (that is metadata), so the same features and model give the same
    table: a re-scored day changes nothing on main and nothing in Dagster's data version, and a
    report recomputed from it neither. (Last in this file: it adds materializations to world A.)"""
    settings, instance = worlds["a"], worlds["instance"]
    store = LocalStore(settings.local_store_dir)
    defs = build_definitions(settings)
    day = WEEK[2]
    for key in (dg.AssetKey(["predictions", "late_arrival"]), dg.AssetKey(REPORT)):
        before = data_version(instance, key, day)
        main_before = store.get_branch("main").commit_id
        result = defs.resolve_job_def("daily_assets").execute_in_process(
            instance=instance,
            asset_selection=[key],
            partition_key=day,
            run_config=QUIET,
            raise_on_error=False,
        )
        assert result.success, failure_text(result)
        contract = next(e for e in result.get_asset_check_evaluations() if e.check_name == "contract")
        assert contract.metadata.get("unchanged_from_main") is not None, (key, contract.metadata)
        assert contract.metadata["unchanged_from_main"].value is True, key
        assert before and data_version(instance, key, day) == before, key
        assert store.get_branch("main").commit_id == main_before, key
    scored = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(["predictions", "late_arrival"]), asset_partitions=[day]),
        limit=1,
    ).records[0]
    assert "scored_at" in scored.asset_materialization.metadata  # when it was scored: metadata, not data
