"""Freshness policies per kind of asset (Dagster's FreshnessPolicy, evaluated by default since 1.12).

Windows are in wall-clock time since the last materialization: a day's data lands daily, so a
daily asset is overdue after two days; models are due for retraining after their spec's age.
"""

from datetime import timedelta

import dagster as dg

DAILY_DATA = dg.FreshnessPolicy.time_window(
    fail_window=timedelta(days=2), warn_window=timedelta(days=1, hours=6)
)
DIMENSIONS = dg.FreshnessPolicy.time_window(fail_window=timedelta(days=35), warn_window=timedelta(days=31))
SUMMARY = dg.FreshnessPolicy.time_window(
    fail_window=timedelta(days=2), warn_window=timedelta(days=1, hours=6)
)


def model_freshness(max_model_age_days: int) -> dg.FreshnessPolicy:
    return dg.FreshnessPolicy.time_window(
        fail_window=timedelta(days=max_model_age_days),
        warn_window=timedelta(days=max(1, max_model_age_days - 1)),
    )
