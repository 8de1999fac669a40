"""Training and evaluation of a spec's model: polars in, a scikit-learn pipeline out.

The window of feature partitions is chosen here (latest published days, minus the label
delay); the caller reads them at one pinned commit so the run is reproducible.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

from mlops_assets.errors import MlopsError
from mlops_assets.lib.features import FEATURES
from mlops_assets.lib.lazy_polars import pl
from mlops_assets.lib.model_spec import ModelSpec, estimator_class

if TYPE_CHECKING:  # numpy is imported where scores are computed, not when the code location loads
    import numpy as np

TARGET = "target"
_LINEAR = {"logistic_regression", "ridge"}


class TrainingError(MlopsError):
    """Training cannot produce a trustworthy model (e.g. too little labelled data)."""


@dataclass(frozen=True)
class Window:
    train_days: list[str]
    holdout_days: list[str]

    @property
    def days(self) -> list[str]:
        return [*self.train_days, *self.holdout_days]


def select_window(spec: ModelSpec, published_days: list[str]) -> Window:
    """The last ``window_days`` days whose labels have arrived, split into train and holdout (by time)."""
    if not published_days:
        raise TrainingError(f"models/{spec.name}: no published feature partitions to train on")
    latest = date.fromisoformat(max(published_days))
    last_labelled = latest - timedelta(days=spec.training.label_delay_days)
    first = last_labelled - timedelta(days=spec.training.window_days - 1)
    days = sorted(d for d in published_days if first.isoformat() <= d <= last_labelled.isoformat())
    holdout_start = (last_labelled - timedelta(days=spec.training.holdout_days - 1)).isoformat()
    window = Window(
        train_days=[d for d in days if d < holdout_start],
        holdout_days=[d for d in days if d >= holdout_start],
    )
    if not window.train_days or not window.holdout_days:
        raise TrainingError(
            f"models/{spec.name}: the window {first}..{last_labelled} has {len(window.train_days)} training and "
            f"{len(window.holdout_days)} holdout day(s) published; need at least one of each "
            f"(training.window_days={spec.training.window_days}, holdout_days={spec.training.holdout_days})"
        )
    return window


def target_expression(spec: ModelSpec) -> pl.Expr:
    match = re.match(r"^(\w+)\s*(>=|<=|>|<|==)?\s*(-?[\d.]+)?$", spec.target)
    assert match, spec.target  # validated by ModelSpec
    column, op, value = match.groups()
    if op is None:
        return pl.col(column).cast(pl.Float64)
    threshold = float(value)
    compare = {
        ">=": pl.col(column) >= threshold,
        "<=": pl.col(column) <= threshold,
        ">": pl.col(column) > threshold,
        "<": pl.col(column) < threshold,
        "==": pl.col(column) == threshold,
    }[op]
    return compare.cast(pl.Int8)


def labelled(spec: ModelSpec, features: pl.DataFrame) -> pl.DataFrame:
    """Rows that have a label (cancelled and diverted flights have none), with the target column."""
    source = re.match(r"^\w+", spec.target).group(0)
    return features.filter(pl.col(source).is_not_null()).with_columns(target_expression(spec).alias(TARGET))


def build_pipeline(spec: ModelSpec):
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    categorical = [f for f in spec.features if FEATURES[f].categorical]
    numeric = [f for f in spec.features if not FEATURES[f].categorical]
    numeric_steps = [SimpleImputer(strategy="median")]
    if spec.estimator.type in _LINEAR:
        numeric_steps.append(StandardScaler())
    prep = ColumnTransformer(
        [
            (
                "categorical",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value="missing", missing_values=None),
                    OneHotEncoder(
                        handle_unknown="infrequent_if_exist", min_frequency=20, sparse_output=False
                    ),
                ),
                categorical,
            ),
            ("numeric", make_pipeline(*numeric_steps), numeric),
        ],
        verbose_feature_names_out=False,
    )
    model = estimator_class(spec.estimator.type)(**spec.estimator.params)
    return Pipeline([("prepare", prep), ("model", model)])


def model_inputs(frame: pl.DataFrame, features: list[str]) -> pl.DataFrame:
    """The model's features; numbers as floats so a missing value is representable at serving time."""
    # Categorical nulls become None in the numpy object array, which the imputer above fills.
    return frame.select(
        pl.col(f) if FEATURES[f].categorical else pl.col(f).cast(pl.Float64) for f in features
    )


def fit(spec: ModelSpec, train: pl.DataFrame, *, min_rows: int | None = None):
    """The spec's pipeline fitted on ``train``. ``min_rows`` (default: the spec's) guards a version
    from too little data; an internal refit (the estimator's out-of-fold scores) may lower it."""
    min_rows = spec.training.min_rows if min_rows is None else min_rows
    if train.height < min_rows:
        raise TrainingError(
            f"models/{spec.name}: {train.height} labelled training rows, but training.min_rows is "
            f"{min_rows}: refusing to train a model on too little data"
        )
    if spec.task == "classification" and train[TARGET].n_unique() < 2:
        raise TrainingError(f"models/{spec.name}: the training window has only one class of {spec.target!r}")
    pipeline = build_pipeline(spec)
    pipeline.fit(model_inputs(train, spec.features), train[TARGET].to_numpy())
    return pipeline


def predict_scores(spec: ModelSpec, pipeline, frame: pl.DataFrame) -> np.ndarray:
    """Probability of the positive class (classification) or the predicted value (regression).

    The pipeline's own fitted feature list decides the inputs: a champion trained from an older
    version of the spec is scored on the features it was trained with.
    """
    inputs = model_inputs(frame, list(pipeline.feature_names_in_))
    if spec.task == "classification":
        return pipeline.predict_proba(inputs)[:, 1]
    return pipeline.predict(inputs)


def evaluate(
    spec: ModelSpec, scores: np.ndarray, targets: np.ndarray, threshold: float = 0.5
) -> dict[str, float]:
    import numpy as np
    from sklearn import metrics

    if spec.task == "classification":
        predicted = (scores >= threshold).astype(int)
        both_classes = len(np.unique(targets)) == 2
        return {
            "roc_auc": float(metrics.roc_auc_score(targets, scores)) if both_classes else float("nan"),
            "pr_auc": float(metrics.average_precision_score(targets, scores))
            if both_classes
            else float("nan"),
            "f2": float(metrics.fbeta_score(targets, predicted, beta=2, zero_division=0)),
            "brier": float(metrics.brier_score_loss(targets, scores)),
            "positive_rate": float(np.mean(targets)),
        }
    return {
        "mae": float(metrics.mean_absolute_error(targets, scores)),
        "rmse": float(np.sqrt(metrics.mean_squared_error(targets, scores))),
    }


def better_or_equal(spec: ModelSpec, challenger: float, champion: float) -> bool:
    """The promotion rule: the challenger may be worse than the champion by at most the margin."""
    if spec.higher_is_better:
        return challenger >= champion - spec.promotion.margin
    return challenger <= champion + spec.promotion.margin
