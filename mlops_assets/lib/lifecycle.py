"""A model version's life, without Dagster: train and register it, then decide its promotion.

``train_and_register`` fits the spec's estimator on a window read at one pinned commit, logs the
run and registers a version in MLflow as ``challenger``, with its governance tags, spec and
reference profile, and returns the version's row of the model reference table.
``decide_promotion`` moves ``champion`` when the challenger is not worse than the champion on the
challenger's own holdout by more than the spec's margin. The Dagster asset and check that call
them (``platform/models``) only pin the commit, read the window and report.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from mlops_assets.errors import ObjectNotFound
from mlops_assets.lib import training
from mlops_assets.lib.features import FEATURES
from mlops_assets.lib.landing import days_between
from mlops_assets.lib.lazy_polars import Columns, pl
from mlops_assets.lib.model_spec import TRAINING_CODE_VERSION, ModelSpec
from mlops_assets.lib.tracking import CHALLENGER, CHAMPION, PROFILE_ARTIFACT
from mlops_assets.lib.tracking.artifacts import MODEL_ID_COLUMN, SHA256_COLUMN, audited_model
from mlops_assets.lib.tracking.tracker import RegisteredModel, Tracker, environment_tags
from mlops_assets.lib.versioned_store import MAIN, VersionedStore
from mlops_assets.lib.versioned_store.wap import read_table, table_path

if TYPE_CHECKING:  # drift and estimation (numpy) are imported when a version is trained, not at load
    from mlops_assets.lib.drift import ReferenceProfile

SCORE_COLUMN = "score"
# One row per version ever trained (the newest last): the model reference table, read by dbt.
REF_COLUMNS = Columns(
    {
        "model_name": "String",
        "model_version": "Int64",
        "run_id": "String",
        "training_commit": "String",
        "train_start": "String",
        "train_end": "String",
        "holdout_start": "String",
        "holdout_end": "String",
        "train_rows": "Int64",
        "holdout_rows": "Int64",
        "metric": "String",
        "holdout_score": "Float64",
        "spec_hash": "String",
        "code_version": "String",
        "git_sha": "String",
        "trained_at": "Float64",
        # What the version predicts, so analysts compute its `actual` without knowing the specs.
        "task": "String",
        "target": "String",
        # Why it was trained: what started the run (manual, automation_condition, retrain_sensor)
        # and the sensor's reason (initial, drift, decay, freshness), if any.
        "trigger": "String",
        "retrain_reason": "String",
        # What the version's bytes are: scoring and the promotion gate load nothing else.
        SHA256_COLUMN: "String",
        MODEL_ID_COLUMN: "String",
    }
)
# Columns added after the table's first rows: rows written before them read as null.
LATER_COLUMNS = ("trigger", "retrain_reason", SHA256_COLUMN, MODEL_ID_COLUMN)


def published_versions(store: VersionedStore, spec_name: str) -> pl.DataFrame:
    """The audited reference table ``models/<spec>`` on main (the versions trained and published,
    what scoring and the gate may load); empty before the first."""
    try:
        return read_table(store, MAIN, table_path(["models", spec_name], None))
    except ObjectNotFound:
        return pl.DataFrame(schema=REF_COLUMNS)


def reference_profile(spec: ModelSpec, train: pl.DataFrame, train_scores) -> ReferenceProfile:
    from mlops_assets.lib.drift import build_profile

    return build_profile(
        train.with_columns(pl.Series(SCORE_COLUMN, train_scores, dtype=pl.Float64)),
        numeric=[f for f in spec.features if not FEATURES[f].categorical],
        categorical=[f for f in spec.features if FEATURES[f].categorical],
        score_column=SCORE_COLUMN,
    )


@dataclass(frozen=True)
class TrainedVersion:
    registered: RegisteredModel
    row: dict[str, Any]  # the version's row of the reference table (REF_COLUMNS)
    metrics: dict[str, float]  # holdout metrics
    serves_from: str  # the first day after the window: new traffic for this version

    @property
    def version(self) -> int:
        return int(self.registered.version)


def train_and_register(
    spec: ModelSpec,
    spec_text: str,
    window: training.Window,
    frame: pl.DataFrame,
    commit: str,
    tracker: Tracker,
    provenance: dict[str, str],
    requirements_lock: str,
    log: Callable[[str], None] = lambda message: None,
) -> TrainedVersion:
    """Fit on the window's training days, evaluate on its holdout days, register as challenger.

    ``frame``: the window's labelled features read at ``commit``. ``provenance``: governance tags
    the caller knows (git sha, dependency lock digest, run id, store), recorded with the version;
    ``requirements_lock``: the full dependency lock, logged as an artifact.
    """
    from mlops_assets.lib.estimation import ESTIMATOR_ARTIFACT, fit_estimator

    holdout_dates = [date.fromisoformat(d) for d in window.holdout_days]
    train = frame.filter(~pl.col("date").is_in(holdout_dates))
    holdout = frame.filter(pl.col("date").is_in(holdout_dates))
    log(
        f"training {spec.name} on {train.height} rows ({window.train_days[0]}..{window.train_days[-1]}), "
        f"holdout {holdout.height} rows, data commit {commit[:12]}"
    )
    pipeline = training.fit(spec, train)
    holdout_scores = training.predict_scores(spec, pipeline, holdout)
    metrics = training.evaluate(spec, holdout_scores, holdout[training.TARGET].to_numpy())
    # Estimates each day's performance from its scores and features, before its labels land.
    began = time.perf_counter()
    folds = spec.monitoring.estimation_folds
    estimator = fit_estimator(spec, holdout, holdout_scores, train=train if folds else None, folds=folds)
    log(f"performance estimator fitted in {time.perf_counter() - began:.1f} s, {estimator.describe()}")
    # The monitoring reference, computed once here and stored with the version.
    profile = reference_profile(spec, train, training.predict_scores(spec, pipeline, train))
    train_partitions = f"{window.train_days[0]}..{window.train_days[-1]}"
    tags = {
        "mlops.spec": spec.name,
        "mlops.spec_hash": spec.content_hash(),
        "mlops.code_version": spec.code_version(),
        "mlops.training_code_version": TRAINING_CODE_VERSION,
        "mlops.training_data_commit": commit,
        "mlops.train_partitions": train_partitions,
        "mlops.holdout_partitions": f"{window.holdout_days[0]}..{window.holdout_days[-1]}",
        "mlops.train_rows": str(train.height),
        "mlops.train_days": str(len(window.train_days)),
        "mlops.holdout_score": repr(float(metrics[spec.promotion.metric])),
        "mlops.holdout_rows": str(holdout.height),
        **{f"mlops.{k}": v for k, v in provenance.items()},
        **{f"mlops.{k}": v for k, v in environment_tags().items()},
    }
    registered = tracker.log_trained_model(
        spec.name,
        pipeline,
        # MLflow's signature inference wants pandas: convert at this library boundary only.
        input_example=training.model_inputs(holdout.head(5), spec.features).to_pandas(),
        params={**spec.estimator.params, "estimator": spec.estimator.type, **spec.training.model_dump()},
        metrics={f"holdout_{k}": v for k, v in metrics.items()},
        tags=tags,
        artifacts={
            "environment/requirements.lock.txt": requirements_lock,
            "spec.yaml": spec_text,
            PROFILE_ARTIFACT: json.dumps(profile.to_dict()),
            ESTIMATOR_ARTIFACT: json.dumps(estimator.to_dict()),
        },
    )
    row = {
        "model_name": registered.name,
        "model_version": int(registered.version),
        "run_id": registered.run_id,
        "training_commit": commit,
        "train_start": window.train_days[0],
        "train_end": window.train_days[-1],
        "holdout_start": window.holdout_days[0],
        "holdout_end": window.holdout_days[-1],
        "train_rows": train.height,
        "holdout_rows": holdout.height,
        "metric": spec.promotion.metric,
        "holdout_score": float(metrics[spec.promotion.metric]),
        "spec_hash": spec.content_hash(),
        "code_version": spec.code_version(),
        "git_sha": provenance.get("git_sha", ""),
        "trained_at": time.time(),
        "task": spec.task,
        "target": spec.target,
        "trigger": provenance.get("trigger", "manual"),
        "retrain_reason": provenance.get("retrain_reason"),
        SHA256_COLUMN: registered.artifact_sha256,
        MODEL_ID_COLUMN: registered.model_id,
    }
    serves_from = (date.fromisoformat(window.holdout_days[-1]) + timedelta(days=1)).isoformat()
    return TrainedVersion(registered=registered, row=row, metrics=metrics, serves_from=serves_from)


def with_history(published: pl.DataFrame, spec: ModelSpec, row: dict[str, Any]) -> pl.DataFrame:
    """The reference table: the versions main holds, then this one. Rows written before the
    table had ``task``/``target`` take the spec's (the target of a name has not changed since);
    before it had ``trigger``/``retrain_reason`` or the artifact's hash, those are unknown (null)."""
    filled = published.with_columns(
        *[
            pl.lit(getattr(spec, c), dtype=pl.String()).alias(c)
            for c in ("task", "target")
            if c not in published.columns
        ],
        *[pl.lit(None, dtype=pl.String()).alias(c) for c in LATER_COLUMNS if c not in published.columns],
    )
    return pl.concat(
        [filled.select(list(REF_COLUMNS)).cast(REF_COLUMNS), pl.DataFrame([row], schema=REF_COLUMNS)]
    )


@dataclass(frozen=True)
class Promotion:
    promoted: bool  # False: the champion stays (the challenger is worse by more than the margin)
    decision: str
    challenger_version: int
    challenger_score: float
    champion_version: int | None = None
    champion_score: float | None = None


def decide_promotion(
    spec: ModelSpec,
    tracker: Tracker,
    versions: pl.DataFrame,
    holdout: Callable[[str, list[str]], pl.DataFrame],
) -> Promotion:
    """Champion/challenger gate for the newest version of ``versions`` (the audited reference
    table on main).

    ``holdout(commit, days)`` reads the challenger's holdout, so the champion is scored on
    exactly the same rows (same commit, same days). Moves the alias and tags the version.
    Before anything moves, the challenger's artifact is verified against its audited row, and
    an alias pointing at a version the table does not hold is refused (``ModelIntegrityError``).
    """
    reference = versions.sort("model_version").row(-1, named=True)
    challenger = str(reference["model_version"])
    score = float(reference["holdout_score"])
    tracker.load_model(audited_model(spec.name, versions, challenger))  # verified, not used
    aliased = {alias: tracker.version_with_alias(spec.name, alias) for alias in (CHAMPION, CHALLENGER)}
    audited = {
        alias: audited_model(spec.name, versions, held.version, alias=alias)
        for alias, held in aliased.items()
        if held is not None
    }
    champion_version = audited[CHAMPION].version if CHAMPION in audited else None
    if champion_version is None:
        decision = f"promoted: v{challenger} is the first champion"
        tracker.promote(spec.name, challenger)
        tracker.tag_version(spec.name, challenger, {"mlops.promotion": decision})
        return Promotion(True, decision, int(challenger), score)
    if champion_version == challenger:
        # The gate ran again for the version that already serves (a re-executed check).
        return Promotion(True, f"unchanged: v{challenger} is already champion", int(challenger), score)
    frame = holdout(
        reference["training_commit"],
        [
            d.isoformat()
            for d in days_between(
                date.fromisoformat(reference["holdout_start"]), date.fromisoformat(reference["holdout_end"])
            )
        ],
    )
    champion_scores = training.predict_scores(spec, tracker.load_model(audited[CHAMPION]), frame)
    champion_score = training.evaluate(spec, champion_scores, frame[training.TARGET].to_numpy())[
        spec.promotion.metric
    ]
    promoted = training.better_or_equal(spec, score, champion_score)
    decision = (
        f"promoted: v{challenger} replaces v{champion_version}"
        if promoted
        else f"rejected: v{champion_version} stays champion"
    )
    if promoted:
        tracker.promote(spec.name, challenger)
    tracker.tag_version(spec.name, challenger, {"mlops.promotion": decision})
    return Promotion(promoted, decision, int(challenger), score, int(champion_version), float(champion_score))
