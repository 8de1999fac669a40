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


def score_day(
    spec: ModelSpec, model, features: pl.DataFrame, model_version: str, scored_at: float, chunk_rows: int = CHUNK_ROWS
) -> ScoredDay:
    scores, latencies = [], []
    for start in range(0, features.height, chunk_rows):
        chunk = features.slice(start, chunk_rows)
        began = time.perf_counter()
        scores.append(predict_scores(spec, model, chunk))
        latencies.append((time.perf_counter() - began) * 1000 * 100 / chunk.height)
    score = np.concatenate(scores) if scores else np.array([], dtype=float)
    prediction = (score >= 0.5).astype(float) if spec.task == "classification" else score
    table = features.select("flight_id", "date").with_columns(
        pl.Series("score", score, dtype=pl.Float64),
        pl.Series("prediction", prediction, dtype=pl.Float64),
        pl.lit(spec.name).alias("model_name"),
        pl.lit(int(model_version), dtype=pl.Int64).alias("model_version"),
        pl.lit(scored_at).cast(pl.Float64).alias("scored_at"),
    )
    return ScoredDay(table=table, latency_ms_per_100=np.array(latencies))
