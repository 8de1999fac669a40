"""``models/<name>``: the training asset of one model (built by its ``ModelComponent``).

The asset trains on its window of feature partitions read at ONE pinned commit of main,
logs and registers the model in MLflow as ``challenger`` (``lib/lifecycle``), and stores the
model reference table in the versioned store: one row per version ever trained (version,
run, training commit, window, metrics, task and target; the newest last), which dbt reads.
One check step: ``contract`` audits and publishes the reference, then ``promotion`` moves
``champion`` if the challenger is not worse than the champion on the same holdout by more
than the margin; a reference that fails its contract is never promoted.
"""

import json
from pathlib import Path
from typing import Any

import dagster as dg

from mlops_assets.lib import training
from mlops_assets.lib.governance import lock_digest
from mlops_assets.lib.lazy_polars import pl
from mlops_assets.lib.lifecycle import (
    LATER_COLUMNS,
    REF_COLUMNS,
    decide_promotion,
    published_versions,
    train_and_register,
    with_history,
)
from mlops_assets.lib.model_spec import ModelSpec
from mlops_assets.lib.tracking.artifacts import SHA256_COLUMN
from mlops_assets.lib.versioned_store import MAIN, VersionedStore
from mlops_assets.lib.versioned_store.wap import published_partitions
from mlops_assets.platform.automation.conditions import retrain_on_code_change
from mlops_assets.platform.automation.freshness import model_freshness
from mlops_assets.platform.contract_checks import contract_description, contract_result
from mlops_assets.platform.features import FEATURES_KEY
from mlops_assets.platform.run_resources import op_tags
from mlops_assets.resources import LandingZoneResource, VersionedStoreResource
from mlops_assets.resources.io_manager import read_partitions
from mlops_assets.resources.mlflow import MlflowResource

SERVES_FROM = "serves_from"
# Training is the heaviest step: the instance's default pool limit (deploy/dagster.yaml
# `concurrency`) lets one model train at a time across all runs.
TRAINING_POOL = "training"
# The model asset carries its whole spec: cross-model pieces find the models in the definitions.
SPEC_METADATA = "mlops/spec"


def model_key(spec: ModelSpec) -> dg.AssetKey:
    return dg.AssetKey(["models", spec.name])


def load_window(store: VersionedStore, spec: ModelSpec, commit: str, days: list[str]) -> "pl.DataFrame":
    _, tables = read_partitions(store, list(FEATURES_KEY.path), list(days), ref=commit)
    return training.labelled(spec, pl.concat(list(tables.values())))


def _ref_contract():
    import pandera.polars as pa

    return pa.DataFrameSchema(
        {
            **{name: pa.Column(dtype, nullable=name in LATER_COLUMNS) for name, dtype in REF_COLUMNS.items()},
            # Rows published before hashes were recorded hold null; a loader refuses those versions.
            SHA256_COLUMN: pa.Column(pl.String(), pa.Check.str_matches(r"^[0-9a-f]{64}$"), nullable=True),
            "model_version": pa.Column(pl.Int64(), pa.Check.gt(0), unique=True),
            "training_commit": pa.Column(pl.String(), pa.Check.str_length(min_value=6)),
            "train_rows": pa.Column(pl.Int64(), pa.Check.gt(0)),
            "holdout_rows": pa.Column(pl.Int64(), pa.Check.gt(0)),
            "holdout_score": pa.Column(
                pl.Float64(), pa.Check(lambda d: d.lazyframe.select(pl.col(d.key).is_finite()), name="finite")
            ),
            "task": pa.Column(pl.String(), pa.Check.isin(["classification", "regression"])),
        },
        strict=True,
        name="model reference",
    )


def _trigger(run_tags: dict[str, str]) -> dict[str, str]:
    """What started this training run, from the tags the sensors and the automation put on it."""
    trigger = run_tags.get("mlops/trigger", "manual")
    reason = run_tags.get("mlops/retrain_reason")
    if reason is None and trigger == "automation_condition":
        reason = "spec or training code changed"  # the only automation condition of a model asset
    return {"trigger": trigger, **({"retrain_reason": reason} if reason else {})}


def _model_asset(spec: ModelSpec, spec_path: Path) -> dg.AssetsDefinition:
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
            f"pinned commit; registered in MLflow as '{spec.name}' with alias 'challenger'. "
            f"Spec: defs/models/{spec_path.parent.name}/{spec_path.name}."
        ),
        metadata={
            "spec_file": dg.MetadataValue.path(str(spec_path)),
            SPEC_METADATA: dg.MetadataValue.json(spec.model_dump(mode="json")),
            "task": spec.task,
            "target": spec.target,
            "features": dg.MetadataValue.json(spec.features),
            "estimator": dg.MetadataValue.json(spec.estimator.model_dump()),
        },
        tags={"mlops/kind": "training"},
        op_tags=op_tags("training"),
        pool=TRAINING_POOL,
    )
    def _model(
        context: dg.AssetExecutionContext, store: VersionedStoreResource, mlflow: MlflowResource
    ) -> Any:
        versioned = store.open()
        commit = versioned.get_commit(MAIN).id  # pinned: every partition of the window from this commit
        window = training.select_window(spec, published_partitions(versioned, commit, FEATURES_KEY.path))
        lock, lock_sha = lock_digest()
        described = versioned.describe()
        tracker = mlflow.tracker()
        trained = train_and_register(
            spec,
            spec_path.read_text(),
            window,
            load_window(versioned, spec, commit, window.days),
            commit,
            tracker,
            provenance={
                "spec_file": spec_path.parent.name + "/" + spec_path.name,
                "git_sha": mlflow.code_version(),
                "training_data_store": json.dumps(
                    {"backend": described.backend, "repository": described.repository}
                ),
                "dagster_run_id": context.run.run_id,
                "dependencies_lock_sha256": lock_sha,
                **_trigger(context.run.tags),
            },
            requirements_lock=lock,
            log=context.log.info,
        )
        row = trained.row
        metadata: dict[str, Any] = {
            "model_version": trained.version,
            # The first day this version serves as new traffic (serve_new_models scores from it).
            SERVES_FROM: trained.serves_from,
            "mlflow_run_id": row["run_id"],
            "training_data_commit": commit,
            "train_partitions": f"{row['train_start']}..{row['train_end']}",
            "train_rows": float(row["train_rows"]),
            "holdout_rows": float(row["holdout_rows"]),
            "git_sha": row["git_sha"],
            "spec_hash": row["spec_hash"],
            **{f"holdout_{k}": float(v) for k, v in trained.metrics.items()},
        }
        for label, url in (
            ("mlflow_run_url", tracker.run_url(trained.registered.experiment_id, row["run_id"])),
            ("mlflow_model_version_url", tracker.model_version_url(spec.name, str(trained.version))),
        ):
            if url:
                metadata[label] = dg.MetadataValue.url(url)
        context.add_output_metadata(metadata)
        return with_history(published_versions(versioned, spec.name), spec, row)

    return _model


def _model_checks(spec: ModelSpec) -> dg.AssetChecksDefinition:
    """``contract`` and ``promotion`` in one step: the gate runs only on a reference that passed
    its contract and reached main, so ``champion`` never moves to a version main does not hold."""
    key = model_key(spec)
    direction = "higher" if spec.higher_is_better else "lower"

    @dg.multi_asset_check(
        specs=[
            dg.AssetCheckSpec("contract", asset=key, blocking=True, description=contract_description(key)),
            dg.AssetCheckSpec(
                "promotion",
                asset=key,
                blocking=True,
                description=(
                    f"Champion/challenger gate, after the contract passed: the new version becomes 'champion' only "
                    f"if its holdout {spec.promotion.metric} ({direction} is better) is within "
                    f"{spec.promotion.margin} of the current champion's on the same holdout. The first version "
                    "always becomes champion. A rejected challenger warns and the champion keeps serving."
                ),
            ),
        ],
        name=f"{spec.name}_contract_and_promotion",
    )
    def _checks(
        context: dg.AssetCheckExecutionContext,
        store: VersionedStoreResource,
        landing: LandingZoneResource,
        mlflow: MlflowResource,
    ):
        contract, audit = contract_result(context, store, landing, key, _ref_contract)
        yield contract
        if not audit.passed:
            yield dg.AssetCheckResult(
                check_name="promotion",
                passed=False,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={
                    "decision": "not judged: the model reference failed its contract; champion unchanged"
                },
            )
            return
        versioned = store.open()
        promotion = decide_promotion(
            spec,
            mlflow.tracker(),
            published_versions(versioned, spec.name),
            lambda commit, days: load_window(versioned, spec, commit, days),
        )
        metadata: dict[str, Any] = {
            "metric": spec.promotion.metric,
            "margin": float(spec.promotion.margin),
            "challenger_version": promotion.challenger_version,
            "challenger_score": promotion.challenger_score,
            "decision": promotion.decision,
        }
        if promotion.champion_version is not None:
            metadata.update(
                champion_version=promotion.champion_version, champion_score=promotion.champion_score
            )
        if not promotion.promoted:
            context.log.warning(
                f"{key.to_user_string()}: challenger v{promotion.challenger_version} {spec.promotion.metric}="
                f"{promotion.challenger_score:.4f} vs champion v{promotion.champion_version} "
                f"{promotion.champion_score:.4f}: {promotion.decision}"
            )
        yield dg.AssetCheckResult(
            check_name="promotion",
            passed=promotion.promoted,
            metadata=metadata,
            severity=dg.AssetCheckSeverity.WARN if not promotion.promoted else dg.AssetCheckSeverity.ERROR,
        )

    return _checks


def build_defs(spec: ModelSpec, spec_path: Path) -> dg.Definitions:
    return dg.Definitions(assets=[_model_asset(spec, spec_path)], asset_checks=[_model_checks(spec)])
