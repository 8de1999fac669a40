"""``models/<spec>``: built from the spec YAML by one factory (adding a model = adding a file).

The asset trains on its window of feature partitions read at ONE pinned commit of main,
logs and registers the model in MLflow as ``challenger``, and stores the model reference
table in the versioned store: one row per version ever trained (version, run, training
commit, window, metrics; the newest last), which the dbt lineage mart reads. Two checks:
``contract`` audits and publishes the reference; ``promotion`` moves ``champion`` if the
challenger is not worse than the champion on the same holdout by more than the margin.
"""

import json
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl

from mlops_assets.defs.automation.conditions import retrain_on_code_change
from mlops_assets.defs.automation.freshness import model_freshness
from mlops_assets.defs.contract_checks import publishing_contract_check
from mlops_assets.defs.features import FEATURES_KEY
from mlops_assets.defs.run_resources import op_tags
from mlops_assets.errors import ObjectNotFound, RefNotFound
from mlops_assets.lib import training
from mlops_assets.lib.drift import ReferenceProfile, build_profile
from mlops_assets.lib.features import FEATURES
from mlops_assets.lib.governance import git_sha, lock_digest
from mlops_assets.lib.model_spec import TRAINING_CODE_VERSION, ModelSpec
from mlops_assets.lib.tracking import CHAMPION, PROFILE_ARTIFACT
from mlops_assets.lib.tracking.tracker import environment_tags
from mlops_assets.lib.versioned_store import MAIN, VersionedStore
from mlops_assets.lib.versioned_store.wap import published_partitions, read_table, table_path, wap_branch
from mlops_assets.resources import VersionedStoreResource
from mlops_assets.resources.io_manager import read_partitions
from mlops_assets.resources.mlflow import MlflowResource
from mlops_assets.settings import Settings, project_root

SCORE_COLUMN = "score"
SERVES_FROM = "serves_from"
REF_COLUMNS = {
    "model_name": pl.String(), "model_version": pl.Int64(), "run_id": pl.String(),
    "training_commit": pl.String(), "train_start": pl.String(), "train_end": pl.String(),
    "holdout_start": pl.String(), "holdout_end": pl.String(), "train_rows": pl.Int64(),
    "holdout_rows": pl.Int64(), "metric": pl.String(), "holdout_score": pl.Float64(),
    "spec_hash": pl.String(), "code_version": pl.String(), "git_sha": pl.String(), "trained_at": pl.Float64(),
}


def reference_profile(spec: ModelSpec, train: pl.DataFrame, train_scores) -> ReferenceProfile:
    return build_profile(
        train.with_columns(pl.Series(SCORE_COLUMN, train_scores, dtype=pl.Float64)),
        numeric=[f for f in spec.features if not FEATURES[f].categorical],
        categorical=[f for f in spec.features if FEATURES[f].categorical],
        score_column=SCORE_COLUMN,
    )


def model_key(spec: ModelSpec) -> dg.AssetKey:
    return dg.AssetKey(["models", spec.name])


def published_feature_days(store: VersionedStore, ref: str) -> list[str]:
    return published_partitions(store, ref, FEATURES_KEY.path)


def load_window(store: VersionedStore, spec: ModelSpec, commit: str, days: list[str]) -> pl.DataFrame:
    _, tables = read_partitions(store, list(FEATURES_KEY.path), list(days), ref=commit)
    return training.labelled(spec, pl.concat(list(tables.values())))


def _ref_contract():
    import pandera.polars as pa

    return pa.DataFrameSchema(
        {
            **{name: pa.Column(dtype) for name, dtype in REF_COLUMNS.items()},
            "model_version": pa.Column(pl.Int64(), pa.Check.gt(0), unique=True),
            "training_commit": pa.Column(pl.String(), pa.Check.str_length(min_value=6)),
            "train_rows": pa.Column(pl.Int64(), pa.Check.gt(0)),
            "holdout_rows": pa.Column(pl.Int64(), pa.Check.gt(0)),
            "holdout_score": pa.Column(pl.Float64(), pa.Check(lambda d: d.lazyframe.select(pl.col(d.key).is_finite()), name="finite")),
        },
        strict=True,
        name="model reference",
    )


def _published_versions(store: VersionedStore, key: dg.AssetKey) -> pl.DataFrame:
    """The versions already on main (the history this run appends to); empty at first."""
    try:
        return read_table(store, MAIN, table_path(key.path, None)).select(list(REF_COLUMNS)).cast(REF_COLUMNS)
    except ObjectNotFound:
        return pl.DataFrame(schema=REF_COLUMNS)


def _read_model_ref(store: VersionedStore, key: dg.AssetKey, run_id: str) -> pl.DataFrame:
    """This run's reference (still on its WAP branch, or already published), else main's."""
    path = table_path(key.path, None)
    for ref in (wap_branch(run_id, key.path), MAIN):
        try:
            return read_table(store, ref, path)
        except (RefNotFound, ObjectNotFound):
            continue
    raise ObjectNotFound(f"{key.to_user_string()}: no model reference on this run's branch nor on main ({path})")


def _model_asset(spec: ModelSpec, spec_path: Path, settings: Settings) -> dg.AssetsDefinition:
    key = model_key(spec)

    @dg.asset(
        key=key,
        deps=[FEATURES_KEY],
        group_name="models",
        owners=spec.owners,
        kinds={"scikit-learn", "mlflow", "parquet"},
        code_version=spec.code_version(),
        automation_condition=retrain_on_code_change(),
        freshness_policy=model_freshness(spec.freshness.max_model_age_days),
        description=(
            f"{spec.description.strip()} Trained with {spec.estimator.type} on the last "
            f"{spec.training.window_days} labelled days of features/flight_features (label delay "
            f"{spec.training.label_delay_days} d, holdout the last {spec.training.holdout_days} d), read at one "
            f"pinned commit; registered in MLflow as '{spec.name}' with alias 'challenger'. Spec: {spec_path.name}."
        ),
        metadata={
            "spec_file": dg.MetadataValue.path(str(spec_path)),
            "task": spec.task,
            "target": spec.target,
            "features": dg.MetadataValue.json(spec.features),
            "estimator": dg.MetadataValue.json(spec.estimator.model_dump()),
        },
        tags={"mlops/kind": "training"},
        op_tags=op_tags("training"),
    )
    def _model(context: dg.AssetExecutionContext, store: VersionedStoreResource, mlflow: MlflowResource) -> pl.DataFrame:
        versioned = store.open()
        commit = versioned.get_commit(MAIN).id  # pinned: every partition of the window from this commit
        window = training.select_window(spec, published_feature_days(versioned, commit))
        frame = load_window(versioned, spec, commit, window.days)
        holdout_dates = [date.fromisoformat(d) for d in window.holdout_days]
        train = frame.filter(~pl.col("date").is_in(holdout_dates))
        holdout = frame.filter(pl.col("date").is_in(holdout_dates))
        context.log.info(
            f"training {spec.name} on {train.height} rows ({window.train_days[0]}..{window.train_days[-1]}), "
            f"holdout {holdout.height} rows, data commit {commit[:12]}"
        )
        pipeline = training.fit(spec, train)
        metrics = training.evaluate(spec, training.predict_scores(spec, pipeline, holdout), holdout[training.TARGET].to_numpy())
        # The monitoring reference, computed once here and stored with the version.
        profile = reference_profile(spec, train, training.predict_scores(spec, pipeline, train))
        lock, lock_sha = lock_digest()
        sha = git_sha(project_root(), settings.git_sha)
        governance = {
            "mlops.spec": spec.name,
            "mlops.spec_file": spec_path.name,
            "mlops.spec_hash": spec.content_hash(),
            "mlops.code_version": spec.code_version(),
            "mlops.training_code_version": TRAINING_CODE_VERSION,
            "mlops.git_sha": sha,
            "mlops.training_data_commit": commit,
            "mlops.training_data_store": json.dumps(
                {"backend": versioned.describe().backend, "repository": versioned.describe().repository}
            ),
            "mlops.train_partitions": f"{window.train_days[0]}..{window.train_days[-1]}",
            "mlops.holdout_partitions": f"{window.holdout_days[0]}..{window.holdout_days[-1]}",
            "mlops.train_rows": str(train.height),
            "mlops.train_days": str(len(window.train_days)),
            "mlops.holdout_score": repr(float(metrics[spec.promotion.metric])),
            "mlops.holdout_rows": str(holdout.height),
            "mlops.dagster_run_id": context.run.run_id,
            "mlops.dependencies_lock_sha256": lock_sha,
            **{f"mlops.{k}": v for k, v in environment_tags().items()},
        }
        tracker = mlflow.tracker()
        registered = tracker.log_trained_model(
            spec.name,
            pipeline,
            # MLflow's signature inference wants pandas: convert at this library boundary only.
            input_example=training.model_inputs(holdout.head(5), spec.features).to_pandas(),
            params={**spec.estimator.params, "estimator": spec.estimator.type, **spec.training.model_dump()},
            metrics={f"holdout_{k}": v for k, v in metrics.items()},
            tags=governance,
            artifacts={
                "environment/requirements.lock.txt": lock,
                "spec.yaml": spec_path.read_text(),
                PROFILE_ARTIFACT: json.dumps(profile.to_dict()),
            },
        )
        score = metrics[spec.promotion.metric]
        row = pl.DataFrame(
            [{
                "model_name": registered.name, "model_version": int(registered.version), "run_id": registered.run_id,
                "training_commit": commit, "train_start": window.train_days[0], "train_end": window.train_days[-1],
                "holdout_start": window.holdout_days[0], "holdout_end": window.holdout_days[-1],
                "train_rows": train.height, "holdout_rows": holdout.height, "metric": spec.promotion.metric,
                "holdout_score": score, "spec_hash": spec.content_hash(), "code_version": spec.code_version(),
                "git_sha": sha, "trained_at": time.time(),
            }],
            schema=REF_COLUMNS,
        )
        reference = pl.concat([_published_versions(versioned, key), row])
        metadata: dict[str, Any] = {
            "model_version": int(registered.version),
            # The first day this version serves as new traffic (serve_new_models scores from it).
            SERVES_FROM: (date.fromisoformat(window.holdout_days[-1]) + timedelta(days=1)).isoformat(),
            "mlflow_run_id": registered.run_id,
            "training_data_commit": commit,
            "train_partitions": governance["mlops.train_partitions"],
            "train_rows": float(train.height),
            "holdout_rows": float(holdout.height),
            "git_sha": sha,
            "spec_hash": spec.content_hash(),
            **{f"holdout_{k}": float(v) for k, v in metrics.items()},
        }
        for label, url in (
            ("mlflow_run_url", tracker.run_url(registered.experiment_id, registered.run_id)),
            ("mlflow_model_version_url", tracker.model_version_url(spec.name, registered.version)),
        ):
            if url:
                metadata[label] = dg.MetadataValue.url(url)
        context.add_output_metadata(metadata)
        return reference

    return _model


def _promotion_check(spec: ModelSpec) -> dg.AssetChecksDefinition:
    key = model_key(spec)
    direction = "higher" if spec.higher_is_better else "lower"

    @dg.asset_check(
        asset=key,
        name="promotion",
        blocking=True,
        description=(
            f"Champion/challenger gate: the new version becomes 'champion' only if its holdout "
            f"{spec.promotion.metric} ({direction} is better) is within {spec.promotion.margin} of the current "
            "champion's on the same holdout. The first version always becomes champion. A rejected challenger "
            "warns and the champion keeps serving."
        ),
    )
    def _promotion(
        context: dg.AssetCheckExecutionContext, store: VersionedStoreResource, mlflow: MlflowResource
    ) -> dg.AssetCheckResult:
        versioned = store.open()
        reference = _read_model_ref(versioned, key, context.run.run_id).sort("model_version").row(-1, named=True)
        tracker = mlflow.tracker()
        challenger = str(reference["model_version"])
        champion = tracker.version_with_alias(spec.name, CHAMPION)
        champion_version = str(champion.version) if champion else None  # MLflow 3 returns ints here
        metadata: dict[str, Any] = {
            "metric": spec.promotion.metric,
            "margin": float(spec.promotion.margin),
            "challenger_version": int(challenger),
            "challenger_score": float(reference["holdout_score"]),
        }
        if champion_version is None or champion_version == challenger:
            tracker.promote(spec.name, challenger)
            tracker.tag_version(spec.name, challenger, {"mlops.promotion": "promoted: first version"})
            return dg.AssetCheckResult(passed=True, metadata={**metadata, "decision": "promoted (no champion yet)"})

        # Score the champion on exactly the challenger's holdout (same commit, same days).
        holdout_days = _days_between(reference["holdout_start"], reference["holdout_end"])
        holdout = load_window(versioned, spec, reference["training_commit"], holdout_days)
        champion_model = tracker.load_model(spec.name, champion_version)
        champion_scores = training.predict_scores(spec, champion_model, holdout)
        champion_score = training.evaluate(spec, champion_scores, holdout[training.TARGET].to_numpy())[spec.promotion.metric]
        metadata.update(champion_version=int(champion_version), champion_score=float(champion_score))
        if training.better_or_equal(spec, reference["holdout_score"], champion_score):
            tracker.promote(spec.name, challenger)
            decision = f"promoted: v{challenger} replaces v{champion_version}"
            tracker.tag_version(spec.name, challenger, {"mlops.promotion": decision})
            return dg.AssetCheckResult(passed=True, metadata={**metadata, "decision": decision})
        decision = f"rejected: v{champion_version} stays champion"
        tracker.tag_version(spec.name, challenger, {"mlops.promotion": decision})
        context.log.warning(
            f"{key.to_user_string()}: challenger v{challenger} {spec.promotion.metric}="
            f"{reference['holdout_score']:.4f} vs champion v{champion_version} {champion_score:.4f}: {decision}"
        )
        return dg.AssetCheckResult(
            passed=False, severity=dg.AssetCheckSeverity.WARN, metadata={**metadata, "decision": decision}
        )

    return _promotion


def _days_between(first: str, last: str) -> list[str]:
    from mlops_assets.lib.landing import days_between

    return [d.isoformat() for d in days_between(date.fromisoformat(first), date.fromisoformat(last))]


def build_defs(settings: Settings, specs: dict[str, tuple[ModelSpec, Path]]) -> dg.Definitions:
    assets, checks = [], []
    for spec, path in specs.values():
        assets.append(_model_asset(spec, path, settings))
        checks.append(publishing_contract_check(model_key(spec), _ref_contract))
        checks.append(_promotion_check(spec))
    return dg.Definitions(assets=assets, asset_checks=checks)
