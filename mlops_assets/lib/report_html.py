"""A self-contained HTML monitoring report: inline SVG plots, no scripts, no CDN; opens offline."""

from __future__ import annotations

import html

import numpy as np
import polars as pl

from mlops_assets.lib.drift import ReferenceProfile

_STATUS_COLOUR = {
    "ok": "#2e7d32",
    "warn": "#ef6c00",
    "drift": "#c62828",
    "decay": "#c62828",
    "pending": "#546e7a",
    "info": "#546e7a",
}


def _bar_chart(title: str, labels: list[str], values: list[float], threshold: float | None) -> str:
    width, row, left = 640, 18, 170
    height = row * len(labels) + 40
    top = max([*values, threshold or 0, 1e-9])
    bars = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = 30 + i * row
        w = (width - left - 60) * value / top
        colour = "#c62828" if threshold is not None and value > threshold else "#1565c0"
        bars.append(
            f'<text x="{left - 6}" y="{y + 12}" text-anchor="end" font-size="11">{html.escape(label)}</text>'
            f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{row - 4}" fill="{colour}"/>'
            f'<text x="{left + w + 4:.1f}" y="{y + 12}" font-size="10">{value:.3f}</text>'
        )
    line = ""
    if threshold is not None:
        x = left + (width - left - 60) * threshold / top
        line = f'<line x1="{x:.1f}" y1="25" x2="{x:.1f}" y2="{height - 5}" stroke="#333" stroke-dasharray="4 3"/>'
    return (
        f'<svg class="plot" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="{html.escape(title)}"><text x="4" y="16" font-size="13" font-weight="bold">{html.escape(title)}'
        f"</text>{''.join(bars)}{line}</svg>"
    )


def _score_histogram(profile: ReferenceProfile, current_scores: np.ndarray) -> str:
    score = profile.numeric.get(profile.score_column or "")
    if score is None:
        return ""
    edges = score.edges_array
    reference = score.proportions_array
    finite = current_scores[np.isfinite(current_scores)]
    counts = np.bincount(np.searchsorted(edges[1:-1], finite, side="right"), minlength=len(reference))[
        : len(reference)
    ]
    current = counts / max(len(finite), 1)
    width, height, left = 640, 200, 40
    n = len(reference)
    slot = (width - left - 10) / n
    top = max(reference.max(), current.max(), 1e-9)
    parts = []
    for i in range(n):
        x = left + i * slot
        for offset, value, colour in ((0.1, reference[i], "#90a4ae"), (0.5, current[i], "#1565c0")):
            h = (height - 50) * value / top
            parts.append(
                f'<rect x="{x + slot * offset:.1f}" y="{height - 20 - h:.1f}" width="{slot * 0.4:.1f}" height="{h:.1f}" fill="{colour}"/>'
            )
    return (
        f'<svg class="plot" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        'aria-label="score distribution"><text x="4" y="16" font-size="13" font-weight="bold">Score distribution '
        "by reference decile bin (grey: training reference, blue: this day)</text>"
        + "".join(parts)
        + "</svg>"
    )


def render_report(
    title: str, report: pl.DataFrame, profile: ReferenceProfile, current_scores: np.ndarray, headline: str
) -> str:
    psi = report.filter((pl.col("metric") == "psi") & pl.col("value").is_not_null()).sort(
        "value", descending=True
    )
    ks = report.filter((pl.col("metric") == "ks_statistic") & pl.col("value").is_not_null()).sort(
        "value", descending=True
    )
    psi_threshold = psi["threshold"][0] if psi.height else None
    ks_threshold = ks["threshold"][0] if ks.height else None
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape('' if v is None else (f'{v:.4f}' if isinstance(v, float) else str(v)))}</td>"
            for v in (r["metric"], r["feature"], r["value"], r["threshold"])
        )
        + f'<td style="color:{_STATUS_COLOUR.get(r["status"], "#000")}">{html.escape(r["status"])}</td></tr>'
        for r in report.iter_rows(named=True)
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:24px;color:#222}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ddd;padding:3px 8px;font-size:12px}}th{{background:#f5f5f5}}</style></head>
<body><h1>{html.escape(title)}</h1><p class="headline">{html.escape(headline)}</p>
{_bar_chart("Population stability index (PSI) per feature", psi["feature"].to_list(), psi["value"].to_list(), psi_threshold)}
{_bar_chart("Kolmogorov-Smirnov statistic per numeric feature", ks["feature"].to_list(), ks["value"].to_list(), ks_threshold)}
{_score_histogram(profile, current_scores)}
<h2>All metrics</h2><table><tr><th>metric</th><th>feature</th><th>value</th><th>threshold</th><th>status</th></tr>{rows}</table>
</body></html>
"""
