"""Performance estimation before labels land: checked against direct computations on synthetic data
whose true probabilities / error scales are known."""

from __future__ import annotations

import json
from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import roc_auc_score

from mlops_assets.lib import training
from mlops_assets.lib.estimation import (
    EstimationError,
    PerformanceEstimator,
    fit_estimator,
    roc_auc_of_labels,
)
from mlops_assets.lib.model_spec import ModelSpec

DAYS = 10
ROWS_PER_DAY = 2500  # 25,000 calibration rows, as out-of-fold scores of a window give


def spec_for(task: str) -> ModelSpec:
    return ModelSpec.model_validate(
        {
            "name": f"synthetic_{task}",
            "description": "a synthetic model for estimation tests",
            "task": task,
            "target": "arr_delay >= 15" if task == "classification" else "arr_delay",
            "features": ["distance", "carrier"],
            "estimator": {
                "type": "logistic_regression" if task == "classification" else "ridge",
            },
            "training": {"window_days": 30, "holdout_days": 7, "min_rows": 100},
            "promotion": {"metric": "roc_auc" if task == "classification" else "mae"},
        }
    )


def classification_day(
    rng: np.random.Generator, rows: int, day: date
) -> tuple[pl.DataFrame, np.ndarray, np.ndarray]:
    """Rows whose true probability of the positive class is known; the model's score is a
    miscalibrated but monotone transform of it (as a class-weighted model's would be)."""
    distance = rng.uniform(0, 1, rows)
    probability = 0.05 + 0.6 * distance**2
    labels = rng.random(rows) < probability
    scores = np.sqrt(probability)  # monotone, not calibrated
    frame = pl.DataFrame(
        {
            "date": [day] * rows,
            "distance": distance * 2000,
            "carrier": rng.choice(["AA", "UA", "DL"], rows),
            "arr_delay": np.where(labels, 30.0, 0.0),
            "cancelled": np.zeros(rows, dtype=bool),
        }
    )
    return frame, scores, probability


def labelled_days(task: str, frames: list[pl.DataFrame]) -> pl.DataFrame:
    return training.labelled(spec_for(task), pl.concat(frames))


@pytest.fixture(scope="module")
def classifier() -> PerformanceEstimator:
    rng = np.random.default_rng(1)
    days = [classification_day(rng, ROWS_PER_DAY, date(2013, 1, 1) + timedelta(days=i)) for i in range(DAYS)]
    holdout = labelled_days("classification", [d[0] for d in days])
    return fit_estimator(spec_for("classification"), holdout, np.concatenate([d[1] for d in days]))


def test_vectorised_auc_equals_sklearn_with_ties():
    rng = np.random.default_rng(2)
    scores = np.round(rng.uniform(size=400), 2)  # many ties: ranks are averaged
    labels = rng.random((5, 400)) < 0.3
    ours = roc_auc_of_labels(labels, scores)
    assert ours == pytest.approx([roc_auc_score(row, scores) for row in labels], abs=1e-12)
    assert np.isnan(roc_auc_of_labels(np.zeros(400), scores))[0]  # one class: no AUC


def test_estimated_auc_matches_realized_auc_averaged_over_draws(classifier):
    rng = np.random.default_rng(3)
    day, scores, probability = classification_day(rng, 800, date(2013, 2, 1))
    realized = np.mean(
        [roc_auc_score(rng.random(probability.size) < probability, scores) for _ in range(200)]
    )
    estimates = classifier.estimate(day.drop("arr_delay"), scores)  # labels are not needed
    auc = estimates["roc_auc"]
    assert auc.value == pytest.approx(realized, abs=0.01)
    assert auc.lower <= auc.value <= auc.upper
    assert auc.upper - auc.lower > 0.02  # a band, not a point
    # Brier and F2 at 0.5 expected from the true probabilities, in closed form.
    brier = np.mean(probability * (1 - scores) ** 2 + (1 - probability) * scores**2)
    assert estimates["brier"].value == pytest.approx(brier, abs=0.005)
    predicted = scores >= 0.5
    true_positives = np.sum(probability[predicted])
    f2 = (
        5
        * true_positives
        / (5 * true_positives + 4 * (probability.sum() - true_positives) + predicted.sum() - true_positives)
    )
    assert estimates["f2"].value == pytest.approx(f2, abs=0.01)


def test_estimate_follows_the_days_composition(classifier):
    """A day of only low-risk flights has a different expected AUC; the estimator sees it from the scores."""
    rng = np.random.default_rng(4)
    day, scores, probability = classification_day(rng, 2000, date(2013, 2, 2))
    easy = day["distance"].to_numpy() < 600
    realized = np.mean(
        [roc_auc_score(rng.random(easy.sum()) < probability[easy], scores[easy]) for _ in range(300)]
    )
    estimate = classifier.estimate(day.filter(pl.Series(easy)), scores[easy])["roc_auc"].value
    assert estimate == pytest.approx(realized, abs=0.015)


def test_cancelled_rows_are_left_out(classifier):
    rng = np.random.default_rng(5)
    day, scores, _ = classification_day(rng, 500, date(2013, 2, 3))
    cancelled = day.with_columns(pl.Series("cancelled", np.arange(500) < 200))
    assert classifier.estimate(cancelled, scores) == classifier.estimate(day[200:], scores[200:])


def test_json_round_trip_gives_identical_estimates(classifier):
    rng = np.random.default_rng(6)
    day, scores, _ = classification_day(rng, 500, date(2013, 2, 4))
    restored = PerformanceEstimator.from_dict(json.loads(json.dumps(classifier.to_dict())))
    assert restored.estimate(day, scores) == classifier.estimate(day, scores)
    assert restored.day_spread.keys() == {"roc_auc", "brier", "f2"}


def regression_days(rng: np.random.Generator, days: int, rows: int) -> tuple[pl.DataFrame, np.ndarray]:
    """Heteroscedastic errors: the error's scale grows with distance and differs by carrier."""
    distance = rng.uniform(100, 2000, days * rows)
    carrier = rng.choice(["AA", "UA", "DL"], days * rows)
    scale = 2 + distance / 100 + np.where(carrier == "UA", 10, 0)
    prediction = 5 + distance / 200
    frame = pl.DataFrame(
        {
            "date": pl.Series([date(2013, 1, 1) + timedelta(days=i) for i in range(days)]).gather(
                np.repeat(np.arange(days), rows)
            ),
            "distance": distance,
            "carrier": carrier,
            "arr_delay": prediction + rng.laplace(0, scale),  # E|error| = scale
            "cancelled": np.zeros(days * rows, dtype=bool),
        }
    )
    return frame, prediction


def test_direct_loss_estimation_recovers_mae_of_heteroscedastic_days():
    rng = np.random.default_rng(7)
    frame, prediction = regression_days(rng, DAYS, 1500)
    spec = spec_for("regression")
    estimator = fit_estimator(spec, training.labelled(spec, frame), prediction)
    restored = PerformanceEstimator.from_dict(json.loads(json.dumps(estimator.to_dict())))
    fresh, fresh_prediction = regression_days(np.random.default_rng(8), 1, 3000)
    for rows in (fresh["distance"] < 700, (fresh["distance"] > 1500) & (fresh["carrier"] == "UA")):
        day, scores = fresh.filter(rows), fresh_prediction[rows.to_numpy()]
        realized = np.mean(np.abs(day["arr_delay"].to_numpy() - scores))
        mae = restored.estimate(day.drop("arr_delay"), scores)["mae"]
        assert mae.value == pytest.approx(realized, rel=0.08)
        assert mae.lower <= realized <= mae.upper
        assert restored.estimate(day, scores) == estimator.estimate(day, scores)
    # The two subsets differ about fourfold: a constant estimate could not pass both.


def test_bad_input_gives_clear_errors(classifier):
    rng = np.random.default_rng(9)
    day, scores, _ = classification_day(rng, 100, date(2013, 2, 5))
    with pytest.raises(EstimationError, match="empty day"):
        classifier.estimate(day.clear(), np.array([]))
    with pytest.raises(EstimationError, match="99 scores for 100 feature rows"):
        classifier.estimate(day, scores[:99])
    with pytest.raises(EstimationError, match="NaN"):
        classifier.estimate(day, np.where(np.arange(100) == 3, np.nan, scores))
    with pytest.raises(EstimationError, match=r"lack column\(s\) \['carrier'\]"):
        classifier.estimate(day.drop("carrier"), scores)
    with pytest.raises(EstimationError, match="every row of the day is a cancelled flight"):
        classifier.estimate(day.with_columns(cancelled=pl.lit(True)), scores)
    with pytest.raises(EstimationError, match="format"):
        PerformanceEstimator.from_dict({"task": "classification"})
    spec = spec_for("classification")
    with pytest.raises(EstimationError, match="2 rows and 3 scores"):
        fit_estimator(spec, training.labelled(spec, day.head(2)), scores[:3])
