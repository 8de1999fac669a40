"""Performance estimated before the labels land: CBPE for classification, DLE for regression.

Fitted once at training time (``fit_estimator``) and stored as plain JSON next to the model
(``ESTIMATOR_ARTIFACT``, no pickle). Each day, ``estimate(features, scores)`` returns the expected
metric and a ~90% band, from the day's features and the model's scores only (never its labels).

- Classification (confidence-based performance estimation, as NannyML's CBPE): the scores are
  calibrated with isotonic regression; the day's labels are then simulated as
  Bernoulli(calibrated probability), ``draws`` label vectors at once, and ROC AUC, Brier and F2 are
  computed for every draw with matrix products over ranks computed once. The mean is the
  estimate, the quantiles the sampling part of the band.
- Regression (direct loss estimation): a small additive model of binned features and the
  prediction predicts the absolute and the squared error of each row; expected MAE is the mean of
  the predicted absolute errors (RMSE the root of the mean predicted squared error).

Sampling noise is not the only reason a day's realized metric differs from its estimate: weather
and traffic move whole days in ways the features do not show. The band is widened by a day-level
spread per metric, estimated at fit time from per-day residuals (realized minus estimated, with
the sampling variance removed) over every labelled day available. Passing the training rows
(``train=``) makes those days out-of-fold: the pipeline is refitted on day blocks and the
calibration / loss model is fitted on scores of models that never saw the rows, over the whole
window instead of only the holdout days.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from mlops_assets.errors import MlopsError
from mlops_assets.lib import training
from mlops_assets.lib.features import FEATURES
from mlops_assets.lib.model_spec import ModelSpec

ESTIMATOR_ARTIFACT = "monitoring/performance_estimator.json"
ESTIMATOR_FORMAT = "mlops_assets.performance_estimator"
ESTIMATOR_VERSION = 1
PREDICTION = "__prediction__"  # the loss model's input for the model's own prediction
BAND_Z = 1.6449  # two-sided 90% of a normal
BAND_QUANTILES = (0.05, 0.95)
F_BETA = 2.0
DECISION_THRESHOLD = 0.5  # as training.evaluate


class EstimationError(MlopsError):
    """A day's rows or an estimator's data cannot be used to estimate performance."""


@dataclass(frozen=True)
class Estimate:
    value: float  # expected metric on the day
    lower: float  # ~90% band; lower <= value <= upper
    upper: float


# --- classification: labels simulated from calibrated probabilities ---------------------------------


def roc_auc_of_labels(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """ROC AUC of each row of a (draws x rows) 0/1 matrix against one score vector (ties averaged).

    AUC = (sum of the positives' ranks - n1 (n1 + 1) / 2) / (n1 n0): one matrix product for all
    draws. A draw with a single class has no AUC (NaN).
    """
    from scipy.stats import rankdata  # scipy is not imported at code-location load

    labels = np.atleast_2d(labels).astype(np.float64)
    ranks = rankdata(scores)
    positives = labels.sum(axis=1)
    negatives = labels.shape[1] - positives
    with np.errstate(invalid="ignore", divide="ignore"):
        return (labels @ ranks - positives * (positives + 1) / 2) / (positives * negatives)


def simulated_metrics(
    probabilities: np.ndarray, scores: np.ndarray, draws: int, seed: int
) -> dict[str, np.ndarray]:
    """ROC AUC, Brier and F2 (threshold 0.5) of ``draws`` label vectors drawn as Bernoulli(probabilities)."""
    rng = np.random.default_rng(seed)
    labels = (rng.random((draws, probabilities.size)) < probabilities).astype(np.float64)
    positives = labels.sum(axis=1)
    predicted = (scores >= DECISION_THRESHOLD).astype(np.float64)
    true_positives = labels @ predicted
    beta2 = F_BETA**2
    # F-beta = (1 + b^2) TP / ((1 + b^2) TP + b^2 FN + FP); 0 when nothing is positive (zero_division=0)
    denominator = (
        (1 + beta2) * true_positives
        + beta2 * (positives - true_positives)
        + (predicted.sum() - true_positives)
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        f2 = np.where(denominator > 0, (1 + beta2) * true_positives / denominator, 0.0)
    # Brier = mean((y - s)^2) = mean(s^2) + mean(y (1 - 2 s))
    brier = np.mean(scores**2) + labels @ (1 - 2 * scores) / scores.size
    return {"roc_auc": roc_auc_of_labels(labels, scores), "brier": brier, "f2": f2}


@dataclass(frozen=True)
class Calibration:
    """Centred isotonic map from score to probability, applied by linear interpolation (clipped).

    Isotonic regression's blocks are flat: every score in a block gets the same probability, which
    throws away the ranking inside the block and biases the expected AUC low (by ~0.02 on 6,000
    rows). Each block is represented by its mean score instead (centred isotonic regression), so
    the map increases strictly between block centres.
    """

    scores: tuple[float, ...]
    probabilities: tuple[float, ...]

    @classmethod
    def fit(cls, scores: np.ndarray, targets: np.ndarray) -> Calibration:
        from sklearn.isotonic import IsotonicRegression

        isotonic = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(scores, targets)
        fitted = isotonic.predict(scores)
        levels, block = np.unique(fitted, return_inverse=True)  # blocks are contiguous in score order
        centres = np.bincount(block, weights=scores) / np.bincount(block)
        knots = np.concatenate([[scores.min()], centres, [scores.max()]])
        values = np.concatenate([[levels[0]], levels, [levels[-1]]])
        knots, first = np.unique(knots, return_index=True)
        return cls(tuple(map(float, knots)), tuple(map(float, values[first])))

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        return np.interp(scores, self.scores, self.probabilities)


# --- regression: an additive model of binned inputs predicting the loss ----------------------------


@dataclass(frozen=True)
class BinnedInput:
    """One input of the loss model: numeric bins (interior edges) or categorical levels, and the
    effect of each bin; the last effect is the missing / other bin."""

    name: str
    categorical: bool
    edges: tuple[float, ...] = ()
    levels: tuple[str, ...] = ()
    effects: tuple[float, ...] = ()

    def codes(self, frame: pl.DataFrame) -> np.ndarray:
        column = frame[self.name]
        if self.categorical:
            index = {level: i for i, level in enumerate(self.levels)}
            other = len(self.levels)
            return (
                column.cast(pl.String)
                .replace_strict(index, default=other, return_dtype=pl.Int64)
                .fill_null(other)
                .to_numpy()
            )
        values = column.cast(pl.Float64).fill_nan(None).to_numpy()
        codes = np.searchsorted(np.asarray(self.edges), values, side="left")
        codes[np.isnan(values)] = len(self.edges) + 1
        return codes

    @classmethod
    def layout(cls, name: str, column: pl.Series, bins: int, min_count: int) -> BinnedInput:
        """Bins from the fitting data: quantile edges, or the levels seen at least ``min_count`` times."""
        if name in FEATURES and FEATURES[name].categorical:
            counts = column.cast(pl.String).drop_nulls().value_counts(sort=True)
            levels = counts.filter(pl.col("count") >= min_count)[column.name].to_list()
            return cls(name, categorical=True, levels=tuple(levels))
        values = column.cast(pl.Float64).fill_nan(None).drop_nulls().to_numpy()
        if values.size == 0:
            return cls(name, categorical=False)
        edges = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1], method="inverted_cdf"))
        return cls(name, categorical=False, edges=tuple(map(float, edges[edges < values.max()])))

    @property
    def size(self) -> int:
        return len(self.levels) + 1 if self.categorical else len(self.edges) + 2


@dataclass(frozen=True)
class AdditiveLossModel:
    """loss ~ intercept + sum of per-bin effects, fitted by backfitting with shrunk bin means."""

    intercept: float
    inputs: tuple[BinnedInput, ...]

    @classmethod
    def fit(
        cls,
        frame: pl.DataFrame,
        loss: np.ndarray,
        columns: list[str],
        *,
        bins: int = 10,
        min_count: int = 50,
        shrinkage: float = 50.0,
        sweeps: int = 20,
    ) -> AdditiveLossModel:
        layouts = [BinnedInput.layout(c, frame[c], bins, min_count) for c in columns]
        codes = [layout.codes(frame) for layout in layouts]
        intercept = float(np.mean(loss))
        effects = [np.zeros(layout.size) for layout in layouts]
        fitted = np.full(loss.size, intercept)
        for _ in range(sweeps):
            for code, effect in zip(codes, effects, strict=True):
                partial = loss - fitted + effect[code]  # what this input is left to explain
                counts = np.bincount(code, minlength=effect.size)
                sums = np.bincount(code, weights=partial, minlength=effect.size)
                # Ridge-like shrinkage towards 0: a bin with few rows says little.
                updated = sums / (counts + shrinkage)
                fitted += updated[code] - effect[code]
                effect[:] = updated
        inputs = tuple(
            BinnedInput(
                layout.name, layout.categorical, layout.edges, layout.levels, tuple(map(float, effect))
            )
            for layout, effect in zip(layouts, effects, strict=True)
        )
        return cls(intercept, inputs)

    def __call__(self, frame: pl.DataFrame) -> np.ndarray:
        total = np.full(frame.height, self.intercept)
        for binned in self.inputs:
            total += np.asarray(binned.effects)[binned.codes(frame)]
        return np.maximum(total, 0.0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "intercept": self.intercept,
            "inputs": [
                {
                    "name": b.name,
                    "categorical": b.categorical,
                    "edges": list(b.edges),
                    "levels": list(b.levels),
                    "effects": list(b.effects),
                }
                for b in self.inputs
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AdditiveLossModel:
        return cls(
            float(data["intercept"]),
            tuple(
                BinnedInput(
                    i["name"],
                    bool(i["categorical"]),
                    tuple(i["edges"]),
                    tuple(i["levels"]),
                    tuple(i["effects"]),
                )
                for i in data["inputs"]
            ),
        )


# --- the estimator -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PerformanceEstimator:
    """Expected metrics of a day from its features and scores; JSON-compatible via ``to_dict``."""

    task: str  # "classification" | "regression"
    features: tuple[str, ...]
    day_spread: dict[str, float]  # per metric: sd of the day-level shift beyond sampling noise
    calibration: Calibration | None = None  # classification
    absolute_error: AdditiveLossModel | None = None  # regression
    squared_error: AdditiveLossModel | None = None  # regression
    draws: int = 1000
    seed: int = 13
    fitted_on: dict[str, Any] = field(default_factory=dict)  # rows, days, out_of_fold: for lineage

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "format": ESTIMATOR_FORMAT,
            "version": ESTIMATOR_VERSION,
            "task": self.task,
            "features": list(self.features),
            "day_spread": dict(self.day_spread),
            "draws": self.draws,
            "seed": self.seed,
            "fitted_on": dict(self.fitted_on),
        }
        if self.calibration is not None:
            data["calibration"] = {
                "scores": list(self.calibration.scores),
                "probabilities": list(self.calibration.probabilities),
            }
        if self.absolute_error is not None and self.squared_error is not None:
            data["absolute_error"] = self.absolute_error.to_dict()
            data["squared_error"] = self.squared_error.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PerformanceEstimator:
        if data.get("format") != ESTIMATOR_FORMAT or data.get("version") != ESTIMATOR_VERSION:
            raise EstimationError(
                f"not a performance estimator of this code: expected format {ESTIMATOR_FORMAT!r} version "
                f"{ESTIMATOR_VERSION}, got {data.get('format')!r} version {data.get('version')!r}"
            )
        calibration = data.get("calibration")
        return cls(
            task=data["task"],
            features=tuple(data["features"]),
            day_spread={k: float(v) for k, v in data["day_spread"].items()},
            calibration=Calibration(tuple(calibration["scores"]), tuple(calibration["probabilities"]))
            if calibration
            else None,
            absolute_error=AdditiveLossModel.from_dict(data["absolute_error"])
            if "absolute_error" in data
            else None,
            squared_error=AdditiveLossModel.from_dict(data["squared_error"])
            if "squared_error" in data
            else None,
            draws=int(data["draws"]),
            seed=int(data["seed"]),
            fitted_on=dict(data.get("fitted_on", {})),
        )

    def describe(self) -> str:
        """How it was fitted, in a sentence for the training run's log."""
        fitted = self.fitted_on
        if "out_of_fold_skipped" in fitted:
            return f"on the holdout only: out-of-fold refits failed ({fitted['out_of_fold_skipped']})"
        return (
            f"on {fitted['rows']} labelled rows of {fitted['days']} days "
            f"({fitted['out_of_fold_rows']} of them scored out of fold)"
        )

    def estimate(self, features: pl.DataFrame, scores: np.ndarray) -> dict[str, Estimate]:
        """Expected metrics of the day's rows that will get a label (cancelled flights dropped)."""
        rows, scores = _scoreable(features, scores, self.features)
        if self.task == "classification":
            return self._classification(scores)
        return self._regression(rows, scores)

    def _classification(self, scores: np.ndarray) -> dict[str, Estimate]:
        simulated = simulated_metrics(self.calibration(scores), scores, self.draws, self.seed)
        # The day-level shift is added to each draw, so the band holds both sources of spread.
        shift = np.random.default_rng(self.seed + 1).standard_normal(self.draws)
        estimates = {}
        for metric, values in simulated.items():
            value = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
            spread = values + self.day_spread.get(metric, 0.0) * shift
            lower, upper = (
                np.nanquantile(spread, BAND_QUANTILES) if np.isfinite(spread).any() else (np.nan, np.nan)
            )
            estimates[metric] = Estimate(value, float(min(lower, value)), float(max(upper, value)))
        return estimates

    def _regression(self, rows: pl.DataFrame, scores: np.ndarray) -> dict[str, Estimate]:
        inputs = rows.with_columns(pl.Series(PREDICTION, scores, dtype=pl.Float64))
        absolute = self.absolute_error(inputs)
        squared = np.maximum(self.squared_error(inputs), absolute**2)
        mae, rmse = float(absolute.mean()), float(np.sqrt(squared.mean()))
        # Sampling sd of the day's MAE: per row var(|e|) = E[e^2] - E[|e|]^2.
        relative_noise = np.sqrt(np.sum(squared - absolute**2)) / absolute.size / max(mae, 1e-12)
        return {
            "mae": _log_band(mae, np.hypot(relative_noise, self.day_spread.get("mae", 0.0))),
            "rmse": _log_band(rmse, self.day_spread.get("rmse", 0.0)),
        }


def _log_band(value: float, relative_sd: float) -> Estimate:
    """A band on the log scale: losses move multiplicatively from day to day."""
    factor = float(np.exp(BAND_Z * relative_sd))
    return Estimate(value, value / factor, value * factor)


def _scoreable(
    features: pl.DataFrame, scores: np.ndarray, columns: tuple[str, ...]
) -> tuple[pl.DataFrame, np.ndarray]:
    """The rows that will get a label and their scores; a clear error for rows that cannot be used."""
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if features.height == 0:
        raise EstimationError("cannot estimate performance of an empty day: the feature frame has no rows")
    if scores.size != features.height:
        raise EstimationError(
            f"{scores.size} scores for {features.height} feature rows: expected one score per row"
        )
    if not np.isfinite(scores).all():
        raise EstimationError(f"{int((~np.isfinite(scores)).sum())} scores are NaN or infinite")
    missing = [c for c in columns if c not in features.columns]
    if missing:
        raise EstimationError(f"the day's features lack column(s) {missing} the estimator was fitted with")
    if "cancelled" in features.columns:
        # Cancelled flights never get a label (known at scoring time in this data): no part of the metric.
        keep = ~features["cancelled"].fill_null(False).to_numpy()
        features, scores = features.filter(pl.Series(keep)), scores[keep]
        if features.height == 0:
            raise EstimationError("every row of the day is a cancelled flight: no row will have a label")
    return features, scores


# --- fitting -----------------------------------------------------------------------------------------


def fit_estimator(
    spec: ModelSpec,
    holdout: pl.DataFrame,
    scores: np.ndarray,
    *,
    train: pl.DataFrame | None = None,
    folds: int = 5,
    draws: int = 1000,
    seed: int = 13,
) -> PerformanceEstimator:
    """Fit the estimator on labelled rows (``training.labelled`` output) and the model's scores on them.

    ``train``: the training rows (labelled, with ``date``). When given, the spec's pipeline is
    refitted ``folds`` times on day blocks of it, and the out-of-fold scores join the holdout's:
    calibration and day-level spread then come from the whole window (about ``folds`` x the
    training cost, and much better estimates); the refits start from the spec, not from a model.
    """
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if holdout.height == 0 or scores.size != holdout.height:
        raise EstimationError(
            f"models/{spec.name}: fit_estimator needs labelled holdout rows and one score per row; got "
            f"{holdout.height} rows and {scores.size} scores"
        )
    for frame, name in ((holdout, "holdout"), (train, "train")):
        if frame is not None and not {training.TARGET, "date"} <= set(frame.columns):
            raise EstimationError(
                f"models/{spec.name}: the {name} rows need the columns {training.TARGET!r} and 'date' "
                "(the output of training.labelled on feature partitions)"
            )
    labelled, labelled_scores, skipped = holdout, scores, None
    if train is not None and train.height:
        try:
            out_of_fold = cross_fitted_scores(spec, train, folds)
        except (EstimationError, training.TrainingError) as exc:
            skipped = str(exc)  # e.g. a block of days with one class only: the holdout alone, said so
        else:
            labelled = pl.concat([train.select(holdout.columns), holdout])
            labelled_scores = np.concatenate([out_of_fold, scores])
    features = tuple(spec.features)
    targets = labelled[training.TARGET].to_numpy().astype(np.float64)
    fitted_on = {
        "rows": labelled.height,
        "days": labelled["date"].n_unique(),
        "out_of_fold_rows": labelled.height - holdout.height,
        **({"out_of_fold_skipped": skipped} if skipped else {}),
    }
    if spec.task == "classification":
        if np.unique(targets).size < 2:
            raise EstimationError(
                f"models/{spec.name}: the labelled rows have only one class of {spec.target!r}"
            )
        estimator = PerformanceEstimator(
            "classification",
            features,
            {},
            calibration=Calibration.fit(labelled_scores, targets),
            draws=draws,
            seed=seed,
            fitted_on=fitted_on,
        )
    else:
        inputs = labelled.with_columns(pl.Series(PREDICTION, labelled_scores, dtype=pl.Float64))
        errors = targets - labelled_scores
        columns = [*features, PREDICTION]
        estimator = PerformanceEstimator(
            "regression",
            features,
            {},
            absolute_error=AdditiveLossModel.fit(inputs, np.abs(errors), columns),
            squared_error=AdditiveLossModel.fit(inputs, errors**2, columns),
            draws=draws,
            seed=seed,
            fitted_on=fitted_on,
        )
    spread = day_spread(estimator, spec, labelled, labelled_scores)
    return PerformanceEstimator(**{**estimator.__dict__, "day_spread": spread})


def day_spread(
    estimator: PerformanceEstimator, spec: ModelSpec, labelled: pl.DataFrame, scores: np.ndarray
) -> dict[str, float]:
    """Per metric, the sd of the day-level shift: per-day residuals (realized - estimated) over the
    labelled days, their mean square minus the mean sampling variance (relative, for losses)."""
    residuals: dict[str, list[float]] = {}
    sampling: dict[str, list[float]] = {}
    days = labelled["date"].to_numpy()
    for day in np.unique(days):  # a loop over days (tens), each vectorised over its rows
        rows = days == day
        frame, day_scores = labelled.filter(pl.Series(rows)), scores[rows]
        targets = frame[training.TARGET].to_numpy()
        realized = training.evaluate(spec, day_scores, targets)
        estimated = estimator.estimate(frame, day_scores)
        for metric, estimate in estimated.items():
            if not np.isfinite(realized[metric]) or not np.isfinite(estimate.value):
                continue
            if spec.task == "classification":
                residuals.setdefault(metric, []).append(realized[metric] - estimate.value)
                # With no day spread yet, the band is sampling only: back out its variance.
                sampling.setdefault(metric, []).append(
                    ((estimate.upper - estimate.lower) / (2 * BAND_Z)) ** 2
                )
            elif realized[metric] > 0 and estimate.value > 0:
                residuals.setdefault(metric, []).append(float(np.log(realized[metric] / estimate.value)))
                sampling.setdefault(metric, []).append(
                    (np.log(estimate.upper / estimate.value) / BAND_Z) ** 2
                )
    return {
        metric: float(np.sqrt(max(np.mean(np.square(values)) - np.mean(sampling[metric]), 0.0)))
        for metric, values in residuals.items()
    }


def cross_fitted_scores(spec: ModelSpec, train: pl.DataFrame, folds: int) -> np.ndarray:
    """Each training row scored by the spec's pipeline fitted without the row's block of days."""
    days = np.sort(train["date"].unique().to_numpy())
    if days.size < 2:
        raise EstimationError(f"models/{spec.name}: cross-fitting needs at least two training days")
    blocks = np.array_split(days, min(folds, days.size))
    row_days = train["date"].to_numpy()
    scores = np.empty(train.height)
    for block in blocks:
        held_out = np.isin(row_days, block)
        # A refit for calibration only, never registered: the spec's min_rows guards versions.
        model = training.fit(spec, train.filter(pl.Series(~held_out)), min_rows=1)
        scores[held_out] = training.predict_scores(spec, model, train.filter(pl.Series(held_out)))
    return scores
