"""One day's rows against the reference profile: a long table of metrics, thresholds and statuses.

Every numeric feature goes through one polars select and one column-wise numpy sort; the rest is a
handful of numpy calls per feature (searchsorted over ~1,000 sorted values), never a loop over
rows. Categorical features loop over their distinct categories (tens), not their rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from mlops_assets.lib.drift.errors import DriftInputError
from mlops_assets.lib.drift.profile import (
    COUNT_COLUMN,
    OTHER_CATEGORY,
    CategoricalProfile,
    ReferenceProfile,
    check_categorical_dtype,
    check_numeric_dtype,
)
from mlops_assets.lib.drift.statistics import (
    bin_proportions,
    chi_square_goodness_of_fit,
    ks_p_values,
    ks_statistic,
    population_stability_index,
)

OK, WARN, DRIFT = "ok", "warn", "drift"
TABLE_SCHEMA = {
    "metric": pl.String(),
    "feature": pl.String(),
    "value": pl.Float64(),
    "threshold": pl.Float64(),
    "status": pl.String(),
}


@dataclass(frozen=True)
class DriftThresholds:
    """When a metric turns a feature's status to "drift" (distribution moved) or "warn" (data quality).

    - ``psi_threshold``: PSI above it is drift (0.2: the usual "significant shift" convention).
    - ``ks_threshold``: KS statistic D above it is drift. D is an effect size (the largest gap
      between the two CDFs), unlike its p-value, which at a day's ~1,000 rows flags differences
      too small to matter and, for discrete features, is conservative.
    - ``max_missing_share``: missing share tolerated **on top of the reference's own** (the
      effective threshold, reference share + this, is the table's ``threshold``): wind gust is
      missing on 68% of training rows, and an absolute limit would warn every day.
    - ``max_out_of_range_share``: share of non-missing values outside the reference [min, max].
    - ``max_unseen_share``: share of non-missing values of a category the reference never had.
    - ``p_value_threshold``: if set, a KS or chi-square p-value below it is also drift; off by
      default because at these sample sizes significance is not relevance.
    """

    psi_threshold: float = 0.2
    ks_threshold: float = 0.1
    max_missing_share: float = 0.2
    max_out_of_range_share: float = 0.05
    max_unseen_share: float = 0.05
    p_value_threshold: float | None = None

    def __post_init__(self) -> None:
        shares = {
            "ks_threshold": self.ks_threshold,
            "max_missing_share": self.max_missing_share,
            "max_out_of_range_share": self.max_out_of_range_share,
            "max_unseen_share": self.max_unseen_share,
        }
        if self.p_value_threshold is not None:
            shares["p_value_threshold"] = self.p_value_threshold
        bad = [f"{name}={value!r}" for name, value in shares.items() if not 0 <= value <= 1]
        if not self.psi_threshold > 0:
            bad.append(f"psi_threshold={self.psi_threshold!r}")
        if bad:
            raise DriftInputError(
                f"drift thresholds out of range: {', '.join(bad)} (psi > 0, the others in [0, 1])"
            )


class _Rows:
    """Column-wise accumulator for the long table (one list per column, one DataFrame at the end)."""

    def __init__(self) -> None:
        self.columns: dict[str, list] = {name: [] for name in TABLE_SCHEMA}

    def add(
        self, metric: str, feature: str, value: float | None, threshold: float | None, status: str | None
    ) -> None:
        for name, item in zip(TABLE_SCHEMA, (metric, feature, value, threshold, status), strict=True):
            self.columns[name].append(item)

    def above(
        self, metric: str, feature: str, value: float | None, threshold: float, status_if_above: str
    ) -> None:
        """A metric that is bad when large (PSI, KS D, shares); no status when it could not be computed."""
        if value is None or np.isnan(value):
            self.add(metric, feature, None, threshold, None)
        else:
            self.add(metric, feature, value, threshold, status_if_above if value > threshold else OK)

    def p_value(self, metric: str, feature: str, value: float | None, threshold: float | None) -> None:
        """A p-value: drift when below the threshold, if there is one; otherwise informational."""
        if value is None or np.isnan(value):
            self.add(metric, feature, None, threshold, None)
        elif threshold is None:
            self.add(metric, feature, value, None, None)
        else:
            self.add(metric, feature, value, threshold, DRIFT if value < threshold else OK)

    def frame(self) -> pl.DataFrame:
        return pl.DataFrame(self.columns, schema=TABLE_SCHEMA)


def _check_current(profile: ReferenceProfile, current: pl.DataFrame) -> None:
    columns = set(current.columns)
    absent = [name for name in profile.features if name not in columns]
    if absent:
        raise DriftInputError(
            f"current frame lacks feature(s) {absent} of the reference profile; it has {current.columns}",
            feature=absent[0],
        )
    if current.height == 0:
        raise DriftInputError(
            f"current frame has no rows: nothing to compare for features {profile.features}"
        )
    schema = current.schema  # built on each access: fetch it once
    for name in profile.numeric:
        check_numeric_dtype(name, schema[name], "current")
    for name in profile.categorical:
        check_categorical_dtype(name, schema[name], "current")


def _compare_numeric(
    profile: ReferenceProfile, current: pl.DataFrame, thresholds: DriftThresholds, rows: _Rows
) -> None:
    names = list(profile.numeric)
    if not names:
        return
    matrix = current.select(pl.col(name).cast(pl.Float64) for name in names).to_numpy()
    finite = np.isfinite(matrix)
    present_counts = finite.sum(axis=0)
    # Missing (null, NaN, +-inf) becomes NaN, which np.sort puts last:
    # column j's values are its first present_counts[j] entries.
    sorted_matrix = np.sort(np.where(finite, matrix, np.nan), axis=0)
    psi = np.full(len(names), np.nan)
    ks = np.full(len(names), np.nan)
    out_of_range = np.full(len(names), np.nan)
    for j, name in enumerate(names):
        reference = profile.numeric[name]
        values = sorted_matrix[: present_counts[j], j]
        if values.size == 0:
            continue
        psi[j] = population_stability_index(
            reference.proportions_array, bin_proportions(values, reference.edges_array)
        )
        ks[j] = ks_statistic(reference.support_array, reference.cdf_from_zero, values)
        below = np.searchsorted(values, reference.minimum, side="left")
        above = values.size - np.searchsorted(values, reference.maximum, side="right")
        out_of_range[j] = (below + above) / values.size
    reference_counts = np.array([profile.numeric[name].count for name in names])
    with np.errstate(invalid="ignore"):
        p_values = ks_p_values(ks, reference_counts, present_counts)
    missing = (current.height - present_counts) / current.height
    for j, name in enumerate(names):
        reference = profile.numeric[name]
        rows.above("psi", name, float(psi[j]), thresholds.psi_threshold, DRIFT)
        rows.above("ks_statistic", name, float(ks[j]), thresholds.ks_threshold, DRIFT)
        rows.p_value("ks_p_value", name, float(p_values[j]), thresholds.p_value_threshold)
        rows.above(
            "missing_share",
            name,
            float(missing[j]),
            min(1.0, reference.missing_share + thresholds.max_missing_share),
            WARN,
        )
        rows.above(
            "out_of_range_share", name, float(out_of_range[j]), thresholds.max_out_of_range_share, WARN
        )


def _compare_categorical(
    name: str, reference: CategoricalProfile, column: pl.Series, thresholds: DriftThresholds, rows: _Rows
) -> None:
    present = column.len() - column.null_count()
    missing = column.null_count() / column.len()
    psi = chi2 = chi2_p = unseen = None
    if present:
        counts = column.cast(pl.String).drop_nulls().value_counts(name=COUNT_COLUMN)
        observed = dict(zip(counts[name].to_list(), counts[COUNT_COLUMN].to_list(), strict=True))
        known = reference.vocabulary_set
        unseen = sum(count for category, count in observed.items() if category not in known) / present
        buckets = list(reference.top_categories)
        bucket_counts = [observed.get(category, 0) for category in buckets]
        other = present - sum(bucket_counts)
        if OTHER_CATEGORY in reference.proportions or other > 0:
            buckets.append(OTHER_CATEGORY)
            bucket_counts.append(other)
        observed_counts = np.asarray(bucket_counts, dtype=np.float64)
        reference_shares = np.array([reference.proportions.get(bucket, 0.0) for bucket in buckets])
        psi = population_stability_index(reference_shares, observed_counts / present)
        chi2, chi2_p = chi_square_goodness_of_fit(observed_counts, reference_shares)
    rows.above("psi", name, psi, thresholds.psi_threshold, DRIFT)
    rows.add("chi2_statistic", name, chi2, None, None)
    rows.p_value("chi2_p_value", name, chi2_p, thresholds.p_value_threshold)
    rows.above(
        "missing_share", name, missing, min(1.0, reference.missing_share + thresholds.max_missing_share), WARN
    )
    rows.above("unseen_share", name, unseen, thresholds.max_unseen_share, WARN)


def compare(
    profile: ReferenceProfile, current: pl.DataFrame, thresholds: DriftThresholds | None = None
) -> pl.DataFrame:
    """Drift and data-quality metrics of ``current`` against ``profile``, one row per (metric, feature).

    Columns: metric, feature, value, threshold, status. Numeric features (and the score) get
    psi, ks_statistic, ks_p_value, missing_share, out_of_range_share; categorical ones get psi,
    chi2_statistic, chi2_p_value, missing_share, unseen_share. ``status`` is "drift", "warn" or
    "ok" for a metric with a threshold, null for informational rows (and for a metric that
    cannot be computed because every value of the feature is missing today; its missing_share
    row then warns). PSI, KS and the shares of out-of-range and unseen values are over the
    non-missing values; missing_share is over all rows.
    """
    thresholds = thresholds or DriftThresholds()
    _check_current(profile, current)
    rows = _Rows()
    _compare_numeric(profile, current, thresholds, rows)
    for name, reference in profile.categorical.items():
        _compare_categorical(name, reference, current[name], thresholds, rows)
    return rows.frame()


_SEVERITY = {OK: 0, WARN: 1, DRIFT: 2}


def feature_status(table: pl.DataFrame) -> pl.DataFrame:
    """The worst status of each feature (drift > warn > ok), in the table's feature order."""
    return (
        table.filter(pl.col("status").is_not_null())
        .group_by("feature", maintain_order=True)
        .agg(pl.col("status").replace_strict(_SEVERITY, return_dtype=pl.Int8).max().alias("severity"))
        .select(
            "feature", pl.col("severity").replace_strict({v: k for k, v in _SEVERITY.items()}).alias("status")
        )
    )


def drifting_features(table: pl.DataFrame) -> list[str]:
    """The features with at least one metric over its drift threshold, in the table's order."""
    return feature_status(table).filter(pl.col("status") == DRIFT)["feature"].to_list()
