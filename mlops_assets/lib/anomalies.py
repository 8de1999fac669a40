"""Anomalies of a landed day that a contract cannot judge alone; every daily table, warnings only.

A day is summarized once (``day_profile``: rows, missing hours, each measured column's median,
the share of unknown codes, cancelled share) and judged against the profiles of the days before
it (``day_anomalies``):

- ``low_volume``: fewer rows than ``min_volume_share`` of the median of the same weekday over the
  ``VOLUME_WEEKS`` weeks before (a partial delivery; weekends are compared with weekends).
- ``missing_hours``: an hourly table with an hour of the local day missing for a group (weather:
  one row per airport and hour) beyond ``MAX_MISSING_HOURS`` (2013 has gaps of up to 5 hours).
- ``level_shift``: a measured column's median (``contracts.schemas.MEASURES``) outside the range of
  the ``LEVEL_DAYS`` days before, widened by ``LEVEL_MARGIN`` of that range (the range at least
  ``LEVEL_FLOOR`` of its size and ``LEVEL_PHYSICAL_SHARE`` of the physical range): what a unit change within physics does
  (temperature in Celsius).
- ``unknown_codes``: a reference the real data may break (``tables.Reference(refuse=False)``)
  broken by more rows than its measured ceiling.
- ``cancelled``: more flights cancelled than ``max_cancelled_share``.

A holiday, a blizzard or fog is real: a person decides, the day is published.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl

from mlops_assets.lib.tables import FLIGHTS, SourceTable

VOLUME_WEEKS = 4
LEVEL_DAYS = 28
LEVEL_MIN_HISTORY = 7
LEVEL_MARGIN = 0.5
LEVEL_FLOOR = 0.25
LEVEL_PHYSICAL_SHARE = 0.02  # and at least this share of the column's physical range
MAX_MISSING_HOURS = 5
LOCAL_ZONE = ZoneInfo("America/New_York")
Profile = dict[str, float]


@dataclass(frozen=True)
class DayAnomaly:
    day: str
    kind: str  # "low_volume" | "missing_hours" | "level_shift" | "unknown_codes" | "cancelled"
    message: str


def history_days(day: str) -> list[str]:
    """The days before ``day`` whose profiles judge it."""
    first = date.fromisoformat(day)
    return [(first - timedelta(days=n)).isoformat() for n in range(max(LEVEL_DAYS, 7 * VOLUME_WEEKS), 0, -1)]


def local_hours(day: str) -> int:
    """Hours in ``day`` in New York (23 or 25 on the days daylight saving time changes)."""
    start = datetime.combine(date.fromisoformat(day), datetime.min.time(), LOCAL_ZONE)
    end = datetime.combine(date.fromisoformat(day) + timedelta(days=1), datetime.min.time(), LOCAL_ZONE)
    return round((end - start).total_seconds() / 3600)


def day_profile(
    table: SourceTable, frame: pl.DataFrame, day: str, codes: Mapping[str, frozenset[str]] | None = None
) -> Profile:
    """What a day is judged on: rows, missing hours per group, medians, unknown-code shares."""
    from mlops_assets.lib.contracts.schemas import MEASURES

    profile: Profile = {"rows": float(frame.height)}
    if table.hourly_by and frame.height:
        hours = dict(frame.group_by(table.hourly_by).agg(pl.col("time_hour").n_unique()).iter_rows())
        for group in table.hourly_groups:
            profile[f"missing_hours:{group}"] = float(local_hours(day) - hours.get(group, 0))
    for column, measure in MEASURES[table.name].items():
        if measure.circular:  # a direction's median says nothing about its unit
            continue
        values = frame[column].drop_nulls()
        if values.len():
            profile[f"median:{column}"] = float(values.median())
    for ref in table.references:
        known = (codes or {}).get(f"{ref.dimension}.{ref.key}")
        if not ref.refuse and known is not None and frame.height:
            used = frame[ref.column].drop_nulls()
            unknown = (~used.is_in(pl.Series(sorted(known), dtype=pl.String).implode())).sum()
            profile[f"unknown:{ref.column}"] = float(unknown / max(used.len(), 1))
    if table is FLIGHTS and frame.height:
        profile["cancelled_share"] = float(frame["dep_time"].is_null().mean() or 0.0)
    return profile


def _low_volume(day: str, rows: float, known: Mapping[str, Profile], min_share: float) -> str | None:
    weekday = date.fromisoformat(day)
    same = [(weekday - timedelta(weeks=n)).isoformat() for n in range(1, VOLUME_WEEKS + 1)]
    counts = [known[d]["rows"] for d in same if d in known]
    if not counts:
        return None
    median = statistics.median(counts)
    if median > 0 and rows < min_share * median:
        return (
            f"{day}: {rows:.0f} rows, {rows / median:.0%} of the median of the same weekday over the "
            f"{len(counts)} week(s) before ({median:.0f}); below MLOPS_MIN_VOLUME_SHARE={min_share:.0%} "
            "(a partial delivery?)"
        )
    return None


def _level_shifts(table: SourceTable, day: str, profile: Profile, before: list[Profile]) -> list[str]:
    from mlops_assets.lib.contracts.schemas import MEASURES

    found = []
    for stat, value in profile.items():
        if not stat.startswith("median:"):
            continue
        history = [p[stat] for p in before if stat in p]
        if len(history) < LEVEL_MIN_HISTORY:
            continue
        low, high = min(history), max(history)
        measure = MEASURES[table.name][stat.removeprefix("median:")]
        physical = LEVEL_PHYSICAL_SHARE * (measure.high - measure.low)
        margin = LEVEL_MARGIN * max(high - low, LEVEL_FLOOR * max(abs(low), abs(high)), physical)
        if not low - margin <= value <= high + margin:
            found.append(
                f"{day}: median of {stat.removeprefix('median:')!r} is {value:g}, outside "
                f"{low:g}..{high:g} of the {len(history)} day(s) before by more than {margin:g} "
                "(a unit change?)"
            )
    return found


def day_anomalies(
    table: SourceTable,
    days: Mapping[str, Profile],
    history: Mapping[str, Profile],
    *,
    min_volume_share: float,
    max_cancelled_share: float,
) -> list[DayAnomaly]:
    """Anomalies of ``days`` (day -> profile); ``history`` holds earlier days' profiles (earlier
    days of the same delivery count too). Without history a day's volume and levels are not judged."""
    known = {**history, **days}
    found: list[DayAnomaly] = []
    for day in sorted(days):
        profile = days[day]
        message = _low_volume(day, profile["rows"], known, min_volume_share)
        if message:
            found.append(DayAnomaly(day, "low_volume", message))
        missing = {k.split(":", 1)[1]: v for k, v in profile.items() if k.startswith("missing_hours:")}
        short = {group: hours for group, hours in missing.items() if hours > MAX_MISSING_HOURS}
        if short:
            detail = ", ".join(f"{group} {hours:.0f}" for group, hours in sorted(short.items()))
            found.append(
                DayAnomaly(
                    day,
                    "missing_hours",
                    f"{day}: hours missing of {local_hours(day)} ({detail}); more than {MAX_MISSING_HOURS}",
                )
            )
        before = [known[d] for d in history_days(day)[-LEVEL_DAYS:] if d in known]
        found.extend(DayAnomaly(day, "level_shift", m) for m in _level_shifts(table, day, profile, before))
        for ref in table.references:
            share = profile.get(f"unknown:{ref.column}")
            if share is not None and share > ref.max_unknown_share:
                found.append(
                    DayAnomaly(
                        day,
                        "unknown_codes",
                        f"{day}: {share:.1%} of rows have a {ref.column!r} missing from raw/{ref.dimension}.{ref.key}; "
                        f"above {ref.max_unknown_share:.0%} ({ref.why})",
                    )
                )
        cancelled = profile.get("cancelled_share")
        if cancelled is not None and cancelled > max_cancelled_share:
            found.append(
                DayAnomaly(
                    day,
                    "cancelled",
                    f"{day}: {cancelled:.0%} of {profile['rows']:.0f} flights cancelled; above "
                    f"MLOPS_MAX_CANCELLED_SHARE={max_cancelled_share:.0%}",
                )
            )
    return found
