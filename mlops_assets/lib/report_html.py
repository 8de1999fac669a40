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


_STATE_COLOUR = {
    "healthy": "#2e7d32",
    "warning": "#ef6c00",
    "drifting": "#c62828",
    "decaying": "#c62828",
    "no data": "#546e7a",
}


def _sparkline(values: list[float], floor: float | None) -> str:
    """Rows scored per recent day as small bars; a bar under the volume floor is orange."""
    if not values:
        return ""
    width, height, gap = 8, 24, 2
    top = max([*values, floor or 0, 1e-9])
    bars = "".join(
        f'<rect x="{i * (width + gap)}" y="{height - height * v / top:.1f}" width="{width}" '
        f'height="{height * v / top:.1f}" fill="{"#ef6c00" if floor is not None and v < floor else "#1565c0"}"/>'
        for i, v in enumerate(values)
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{len(values) * (width + gap)}" height="{height}" '
        f'role="img" aria-label="rows scored per day">{bars}</svg>'
    )


def _cell(value) -> str:
    if value is None:
        return "<td>-</td>"
    if isinstance(value, float):
        return f"<td>{value:,.4g}</td>" if abs(value) < 1000 else f"<td>{value:,.0f}</td>"
    return f"<td>{html.escape(str(value))}</td>"


def render_overview(
    overview: pl.DataFrame, calls_by_day: dict[str, list[float]], report_links: dict[str, str], generated: str
) -> str:
    """The Model Operations Center page: one row per model, its state first.

    ``calls_by_day``: rows scored on each recent day per model (the sparkline); ``report_links``:
    the latest daily report of each model, relative to the page.
    """
    counts = overview.group_by("state").len().sort("state")
    tally = ", ".join(f"{n} {state}" for state, n in counts.iter_rows())
    rows = []
    for r in overview.iter_rows(named=True):
        colour = _STATE_COLOUR.get(r["state"], "#000")
        performance = (
            f"realized {r['realized_score']:.4f} ({r['realized_day']})"
            if r["realized_score"] is not None
            else ""
        )
        if r["estimated_score"] is not None:
            performance += (
                f"{'; ' if performance else ''}estimated {r['estimated_score']:.4f} "
                f"[{r['estimated_lower']:.4f}, {r['estimated_upper']:.4f}]"
            )
        link = report_links.get(r["spec"])
        latest = (
            f'<a href="{html.escape(link)}">{r["latest_day"]}</a>'
            if link and r["latest_day"]
            else r["latest_day"]
        )
        retrain = " ".join(
            str(v)
            for v in (
                r["last_trained_at"] and r["last_trained_at"].strftime("%Y-%m-%d %H:%M UTC"),
                r["last_retrain_trigger"],
                r["last_retrain_reason"] and f"({r['last_retrain_reason']})",
            )
            if v
        )
        calls = _sparkline(calls_by_day.get(r["spec"], []), r["volume_floor"])
        if r["rows_scored"] is not None:
            calls += f"<br>{r['rows_scored']:,.0f}"
        if r["volume_alert"]:
            calls += ' <b style="color:#ef6c00">below floor</b>'
        rows.append(
            f'<tr class="model" data-spec="{html.escape(r["spec"])}" data-state="{html.escape(r["state"])}">'
            f"<td><b>{html.escape(r['spec'])}</b><br><small>{html.escape(r['task'])}, {html.escape(r['metric'])}</small></td>"
            f'<td class="state" style="color:{colour};font-weight:bold">{html.escape(r["state"])}</td>'
            f"<td>{'' if latest is None else latest}</td>"
            + _cell(r["champion_version"] and f"v{r['champion_version']}")
            + _cell(r["champion_age_days"])
            + _cell(retrain or None)
            + f"<td>{calls}</td>"
            + _cell(r["latency_ms_per_100_p50"])
            + _cell(r["latency_ms_per_100_p95"])
            + _cell(r["holdout_score"])
            + _cell(performance or None)
            + _cell(r["data_quality_warnings"])
            + _cell(r["drifting_features"])
            + _cell(r["open_alerts"])
            + "</tr>"
        )
    header = "".join(
        f"<th>{h}</th>"
        for h in (
            "model",
            "state",
            "latest day",
            "champion",
            "age (days of data)",
            "last retrain",
            "calls per day",
            "latency p50 (ms/100)",
            "latency p95 (ms/100)",
            "holdout score",
            "performance",
            "data quality warnings",
            "drifting features",
            "open alerts",
        )
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Model Operations Center</title>
<style>body{{font-family:sans-serif;margin:24px;color:#222}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ddd;padding:4px 8px;font-size:12px;vertical-align:top}}th{{background:#f5f5f5}}</style></head>
<body><h1>Model Operations Center</h1>
<p class="headline">{len(overview)} model(s): {html.escape(tally)}. Generated {html.escape(generated)}.</p>
<table><tr>{header}</tr>{"".join(rows)}</table>
</body></html>
"""
