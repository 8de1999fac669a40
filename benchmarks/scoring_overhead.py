"""Throughput of the prediction asset's scoring path vs raw ``predict_proba`` on the same rows (issue 6).

The scoring path (``lib.scoring.score_day``) selects the model's inputs, scores in chunks of up
to 1,000 rows (each timed, for latency per 100 records), and builds the prediction table (flight
key, score, prediction, model name and version). The peer is one
``pipeline.predict_proba`` call per day on ready-made inputs: the same rows, at the same
granularity as the asset (one partition = one day).
Goal: at least 80% of raw throughput.

Run: .venv/bin/python benchmarks/scoring_overhead.py [--days 7] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from datetime import date, timedelta
from pathlib import Path

import polars as pl

from mlops_assets.lib import training
from mlops_assets.lib.features import build_flight_features
from mlops_assets.lib.landing import land_days, read_landed
from mlops_assets.lib.model_spec import load_spec
from mlops_assets.lib.scoring import score_day
from mlops_assets.settings import PACKAGE_DIR

warnings.simplefilter("ignore")


def features_for(folder: Path, first: date, days: int) -> pl.DataFrame:
    land_days(folder, first, first + timedelta(days=days - 1))
    planes, airports = read_landed(folder, "planes", None).table, read_landed(folder, "airports", None).table
    return pl.concat(
        build_flight_features(
            read_landed(folder, "flights", d.isoformat()).table,
            read_landed(folder, "weather", d.isoformat()).table,
            planes,
            airports,
        )
        for d in (first + timedelta(days=i) for i in range(days))
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    spec = load_spec(PACKAGE_DIR / "defs" / "models" / "late_arrival")
    with tempfile.TemporaryDirectory() as tmp:
        train = training.labelled(spec, features_for(Path(tmp) / "train", date(2013, 6, 1), 14))
        day_frames = [features_for(Path(tmp) / "score", date(2013, 7, 1), args.days)]
    scoring = day_frames[0]
    pipeline = training.fit(spec, train)
    days = scoring.partition_by("date", maintain_order=True)
    inputs = [
        training.model_inputs(day, spec.features) for day in days
    ]  # the raw peer gets ready-made inputs

    raw_runs, asset_runs = [], []
    for _ in range(args.repeat):
        began = time.perf_counter()
        for day_inputs in inputs:
            pipeline.predict_proba(day_inputs)
        raw_runs.append(time.perf_counter() - began)
        began = time.perf_counter()
        for day in days:
            score_day(spec, pipeline, day, "1")
        asset_runs.append(time.perf_counter() - began)
    raw_s, asset_s = statistics.median(raw_runs), statistics.median(asset_runs)
    rows = scoring.height
    print(f"{rows:,} rows ({args.days} days of July 2013), median of {args.repeat}")
    print(f"raw predict_proba (per day)    : {raw_s * 1000:8.1f} ms  {rows / raw_s:>10,.0f} rows/s")
    print(f"asset scoring path (per day)   : {asset_s * 1000:8.1f} ms  {rows / asset_s:>10,.0f} rows/s")
    print(f"throughput asset/raw           : {raw_s / asset_s:8.1%}  (goal >= 80%)")


if __name__ == "__main__":
    main()
