"""Batch scoring with latency measurement: the prediction asset's hot path.

Rows are scored in chunks of up to ``CHUNK_ROWS``; each chunk's wall time gives a latency per
100 records, so p50/p95 come from real calls without scoring anything twice. Chunks are large
because each scikit-learn call has a fixed cost: 100-row calls would cut throughput by ~4x
(benchmarks/scoring_overhead.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import polars as pl

from mlops_assets.lib.model_spec import ModelSpec
from mlops_assets.lib.training import predict_scores

CHUNK_ROWS = 1000


@dataclass(frozen=True)
class ScoredDay:
    table: pl.DataFrame
    latency_ms_per_100: np.ndarray  # one value per chunk

    @property
    def p50_ms(self) -> float:
        return float(np.percentile(self.latency_ms_per_100, 50)) if self.latency_ms_per_100.size else 0.0

    @property
    def p95_ms(self) -> float:
        return float(np.percentile(self.latency_ms_per_100, 95)) if self.latency_ms_per_100.size else 0.0


def _scored_table(spec: ModelSpec, features: pl.DataFrame, score: np.ndarray, model_version: str):
    """The scores and who made them; nothing about when (the same inputs give the same table, so a
    re-scored day keeps its data version; the time is metadata of the run)."""
    prediction = (score >= 0.5).astype(float) if spec.task == "classification" else score
    return features.select("flight_id", "date").with_columns(
        pl.Series("score", score, dtype=pl.Float64),
        pl.Series("prediction", prediction, dtype=pl.Float64),
        pl.lit(spec.name).alias("model_name"),
        pl.lit(int(model_version), dtype=pl.Int64).alias("model_version"),
    )


def score_range(
    spec: ModelSpec,
    model,
    features_by_day: dict[str, pl.DataFrame],
    model_version: str,
    chunk_rows: int = CHUNK_ROWS,
) -> dict[str, ScoredDay]:
    """Score many days in one pass of fixed-size chunks; each day keeps its own rows and latencies.

    A chunk's latency per 100 records counts for every day it holds rows of, so a day's p50/p95
    come from the calls that scored it, and small days do not pay a model call each.
    """
    days = list(features_by_day)
    if not days:
        return {}
    stacked = pl.concat([features_by_day[d] for d in days])
    bounds = np.cumsum([0, *[features_by_day[d].height for d in days]])
    scores, chunk_latency, chunk_start = [], [], []
    for start in range(0, stacked.height, chunk_rows):
        chunk = stacked.slice(start, chunk_rows)
        began = time.perf_counter()
        scores.append(predict_scores(spec, model, chunk))
        chunk_latency.append((time.perf_counter() - began) * 1000 * 100 / chunk.height)
        chunk_start.append(start)
    score = np.concatenate(scores) if scores else np.array([], dtype=float)
    latency, starts = np.array(chunk_latency), np.array(chunk_start, dtype=int)
    table = _scored_table(spec, stacked, score, model_version)
    scored = {}
    for i, day in enumerate(days):
        first, end = int(bounds[i]), int(bounds[i + 1])
        in_day = (
            (starts < end) & (starts + chunk_rows > first)
            if end > first
            else np.zeros(starts.size, dtype=bool)
        )
        scored[day] = ScoredDay(table=table.slice(first, end - first), latency_ms_per_100=latency[in_day])
    return scored


def score_day(
    spec: ModelSpec,
    model,
    features: pl.DataFrame,
    model_version: str,
    chunk_rows: int = CHUNK_ROWS,
) -> ScoredDay:
    """One day's scores (a range of one)."""
    return score_range(spec, model, {"day": features}, model_version, chunk_rows)["day"]
