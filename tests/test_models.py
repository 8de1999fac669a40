"""models/<spec>: training on a pinned commit, MLflow registry, promotion gate, governance, lineage."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
import yaml
from mlflow import MlflowClient

from mlops_assets.definitions import build_definitions
from mlops_assets.errors import ObjectNotFound
from mlops_assets.lib import training
from mlops_assets.lib.features import build_flight_features
from mlops_assets.lib.landing import land_days, read_landed
from mlops_assets.lib.model_spec import load_spec
from mlops_assets.lib.tracking.tracker import MODEL_REQUIREMENTS, model_requirements
from mlops_assets.lib.versioned_store import LocalStore
from mlops_assets.lib.versioned_store.wap import read_table, table_path
from mlops_assets.settings import MODELS_DIR, load_settings
from tests.conftest import DATA_KEYS, PROJECT_ROOT, build_world, failure_text, materialize, source_table

LATE = dg.AssetKey(["models", "late_arrival"])


def registry(settings) -> MlflowClient:
    """A fresh client on this test's store (a bare MlflowClient(uri) would use the global registry URI)."""
    return MlflowClient(
        tracking_uri=settings.mlflow_tracking_uri.get_secret_value(),
        registry_uri=settings.mlflow_tracking_uri.get_secret_value(),
    )


DELAY = dg.AssetKey(["models", "arrival_delay"])
SHIPPED = MODELS_DIR


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Three weeks published and both shipped specs trained once, on a persistent instance."""
    home = tmp_path_factory.mktemp("trained") / "mlops"
    settings = load_settings({"MLOPS_HOME": str(home)})
    with dg.instance_for_test() as instance:
        defs = build_world(settings, instance, "2013-03-01", "2013-03-16")
        result = defs.resolve_job_def("train_models").execute_in_process(
            instance=instance, raise_on_error=False
        )
        yield settings, defs, instance, result


def test_training_registers_a_champion_with_governance(trained):
    settings, _, instance, result = trained
    assert result.success
    store = LocalStore(settings.local_store_dir)
    client = registry(settings)
    for key in (LATE, DELAY):
        name = key.path[-1]
        champion = client.get_model_version_by_alias(name, "champion")
        assert str(champion.version) == "1"
        reference = read_table(store, "main", table_path(key.path, None)).row(-1, named=True)
        tags = champion.tags
        assert tags["mlops.training_data_commit"] == reference["training_commit"]
        assert tags["mlops.train_partitions"] == "2013-03-01..2013-03-08"
        assert (
            tags["mlops.holdout_partitions"] == "2013-03-09..2013-03-15"
        )  # label delay: 16th not yet labelled
        assert tags["mlops.dagster_run_id"] == result.run_id
        assert tags["mlops.spec_hash"] == load_spec(SHIPPED / name).content_hash()
        assert len(tags["mlops.git_sha"]) == 40
        assert len(tags["mlops.dependencies_lock_sha256"]) == 64
        assert "scikit-learn" in tags["mlops.dependencies"]
        mat = instance.get_latest_materialization_event(key).asset_materialization
        assert mat.metadata["model_version"].value == 1
        assert mat.metadata["training_data_commit"].value == reference["training_commit"]
        run = client.get_run(champion.run_id)
        assert run.data.metrics[f"holdout_{reference['metric']}"] == pytest.approx(reference["holdout_score"])
    assert (
        instance.get_latest_materialization_event(LATE)
        .asset_materialization.metadata["holdout_roc_auc"]
        .value
        > 0.55
    )


def test_a_model_is_logged_with_its_requirements_given_and_they_cover_what_mlflow_would_infer(
    trained, monkeypatch
):
    import mlflow
    from mlflow.models import infer_pip_requirements
    from mlflow.pyfunc import get_model_dependencies

    settings, _, _, result = trained
    assert result.success
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri.get_secret_value())
    mlflow.set_registry_uri(settings.mlflow_tracking_uri.get_secret_value())
    uri = f"models:/{LATE.path[-1]}/1"
    logged = Path(get_model_dependencies(uri)).read_text().split()
    assert logged == model_requirements()
    assert [line.split("==")[0] for line in logged] == list(MODEL_REQUIREMENTS)
    # MLflow's own inference (a Python that loads the model and records its imports), once here
    # rather than at every training: all it finds, but the test runner it runs under, we give.
    # It loads the model through MLflow's loader, which the tracker switches off: our own model, here only.
    monkeypatch.setenv("MLFLOW_ALLOW_MODEL_CODE_EXECUTION", "true")
    inferred = {line.split("==")[0].lower() for line in infer_pip_requirements(uri, "sklearn")}
    assert inferred - {"pytest", "rich"} <= set(MODEL_REQUIREMENTS), inferred


def test_training_data_stays_readable_at_its_pinned_commit(trained):
    settings, defs, instance, _ = trained
    store = LocalStore(settings.local_store_dir)
    reference = read_table(store, "main", table_path(LATE.path, None)).row(-1, named=True)
    before = read_table(
        store, reference["training_commit"], table_path(["features", "flight_features"], "2013-03-05")
    )
    # New data lands and is published: main moves on, the model's training data does not.
    land_days(settings.landing_dir, date(2013, 3, 17), date(2013, 3, 17))
    assert (
        defs.resolve_job_def("daily_assets")
        .execute_in_process(
            instance=instance, partition_key="2013-03-17", asset_selection=DATA_KEYS, raise_on_error=False
        )
        .success
    )
    assert store.get_commit("main").id != reference["training_commit"]
    with pytest.raises(ObjectNotFound):
        read_table(
            store, reference["training_commit"], table_path(["features", "flight_features"], "2013-03-17")
        )
    after = read_table(
        store, reference["training_commit"], table_path(["features", "flight_features"], "2013-03-05")
    )
    assert after.equals(before)


def test_explain_model_prints_the_training_commit(trained):
    settings, *_ = trained
    store = LocalStore(settings.local_store_dir)
    reference = read_table(store, "main", table_path(LATE.path, None)).row(-1, named=True)
    done = subprocess.run(
        [sys.executable, "-m", "mlops_assets", "explain-model", "late_arrival", "1"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "MLOPS_HOME": str(settings.home)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert f"training data commit     {reference['training_commit']}" in done.stdout
    assert "aliases: challenger, champion" in done.stdout or "aliases: champion, challenger" in done.stdout
    assert "holdout_roc_auc" in done.stdout


def _spec_dir(tmp_path: Path, name: str, change=None) -> Path:
    """A folder of model folders holding one edited copy of late_arrival (for MLOPS_MODELS_DIR)."""
    folder = tmp_path / name
    (folder / "late_arrival").mkdir(parents=True)
    component = yaml.safe_load((SHIPPED / "late_arrival" / "defs.yaml").read_text())
    raw = component["attributes"]
    raw["training"].update(min_rows=500)
    if change:
        change(raw)
    (folder / "late_arrival" / "defs.yaml").write_text(yaml.safe_dump(component))
    return folder


def _weak(raw: dict) -> None:
    """A deliberately poor challenger: one uninformative feature."""
    raw["features"] = ["day_of_week"]
    raw["monitoring"]["drift_exempt"] = []
    raw["estimator"] = {"type": "logistic_regression", "params": {"max_iter": 200}}


def test_promotion_accepts_a_better_and_rejects_a_worse_challenger(settings, instance, tmp_path):
    build_world(settings, instance, "2013-04-01", "2013-04-12")

    def alias(name: str) -> str:
        return str(registry(settings).get_model_version_by_alias("late_arrival", name).version)

    def train(spec_dir: Path):
        defs = build_definitions(settings.model_copy(update={"models_dir": spec_dir}))
        result = materialize(defs, instance, [LATE])
        assert any(e.check_name == "promotion" for e in result.get_asset_check_evaluations()), failure_text(
            result
        )
        promotion = next(e for e in result.get_asset_check_evaluations() if e.check_name == "promotion")
        return result, promotion

    weak, strong = _spec_dir(tmp_path, "weak", _weak), _spec_dir(tmp_path, "strong")
    result, promotion = train(weak)
    assert result.success and promotion.passed
    assert alias("champion") == "1"

    result, promotion = train(strong)
    assert result.success and promotion.passed
    assert promotion.metadata["challenger_score"].value > promotion.metadata["champion_score"].value
    assert promotion.metadata["champion_version"].value == 1
    assert alias("champion") == "2"

    result, promotion = train(weak)
    assert result.success, "a rejected challenger warns; it does not fail the run"
    assert not promotion.passed and promotion.severity == dg.AssetCheckSeverity.WARN
    assert promotion.metadata["challenger_score"].value < promotion.metadata["champion_score"].value - 0.01
    assert alias("champion") == "2"
    assert alias("challenger") == "3"
    assert (
        registry(settings).get_model_version("late_arrival", "3").tags["mlops.promotion"]
        == "rejected: v2 stays champion"
    )


def test_too_little_training_data_fails_clearly_and_registers_nothing(settings, instance, tmp_path):
    build_world(settings, instance, "2013-04-01", "2013-04-10")
    spec_dir = _spec_dir(tmp_path, "hungry", lambda raw: raw["training"].update(min_rows=100_000))
    defs = build_definitions(settings.model_copy(update={"models_dir": spec_dir}))
    result = materialize(defs, instance, [LATE])
    assert not result.success
    message = "\n".join(
        e.step_failure_data.error.cause.message
        if e.step_failure_data.error.cause
        else e.step_failure_data.error.message
        for e in result.get_step_failure_events()
    )
    assert "training.min_rows is 100000" in message and "refusing to train" in message
    store = LocalStore(settings.local_store_dir)
    assert not store.object_exists("main", table_path(LATE.path, None))
    assert registry(settings).search_model_versions("name='late_arrival'") == []


def test_late_arrival_model_beats_chance_on_a_held_out_month(tmp_path):
    """Real data: train on June 2013, score all of July (never seen)."""
    land_days(tmp_path, date(2013, 1, 1), date(2013, 1, 1))  # dimensions
    planes = read_landed(tmp_path, "planes", None).table
    airports = read_landed(tmp_path, "airports", None).table
    land_days(tmp_path, date(2013, 6, 1), date(2013, 7, 31))
    days = [d.isoformat() for d in (date(2013, 6, 1) + timedelta(n) for n in range(61))]
    features = pl.concat(
        build_flight_features(
            read_landed(tmp_path, "flights", d).table,
            read_landed(tmp_path, "weather", d).table,
            planes,
            airports,
        )
        for d in days
    )
    results = {}
    for name in ("late_arrival", "arrival_delay"):
        spec = load_spec(SHIPPED / name)
        data = training.labelled(spec, features)
        train, july = data.filter(pl.col("month") < 7), data.filter(pl.col("month") == 7)
        pipeline = training.fit(spec, train)
        results[name] = training.evaluate(
            spec, training.predict_scores(spec, pipeline, july), july[training.TARGET].to_numpy()
        )
    print(f"held-out July 2013: {results}")
    assert results["late_arrival"]["roc_auc"] > 0.65
    baseline_mae = float((july["target"] - train["target"].median()).abs().mean())
    assert results["arrival_delay"]["mae"] < baseline_mae
    assert (
        source_table("flights").filter(pl.col("month") == 7).height > july.height
    )  # cancellations have no label
