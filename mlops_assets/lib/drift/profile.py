"""The reference profile: what a drift comparison needs to remember about the training features.

Built once at training time, stored next to the model (MLflow artifact, versioned store), and
compared against each day's rows. It is small (at most ~1,000 points per numeric feature) and a
plain JSON-compatible dict, so the training data never has to be re-read to monitor a model.

Per numeric feature (and the prediction score):
- missing share (null, NaN and +-inf all count as missing) and the non-missing count;
- min and max, for the share of today's values outside the range the model was trained on;
- PSI bins: interior edges at the reference's deciles (inverted-CDF quantiles, deduplicated,
  edges at or above the max dropped so the top bin is never empty), outer edges -inf and +inf
  implied (JSON has no infinity); a feature with at most ``bins`` distinct values gets one bin
  per value instead, so a shift between two values of a discrete feature is visible;
- the reference CDF as a step function (support values, CDF at each): **exact** (every distinct
  value with its cumulative share) when the feature has at most ``ecdf_points`` distinct values,
  which with the default 1,000 covers every flight feature except humidity, so KS is exactly
  ``scipy.stats.ks_2samp``'s; otherwise the inverted-CDF quantiles at probabilities
  1/m, 2/m, ..., 1 (m = ``ecdf_points``), deduplicated, which bounds the KS error by 1/m = 0.001
  (far below any useful threshold) at a fixed size, whatever the reference's row count.

Per categorical feature: missing share, the shares of the ``top_k`` most frequent categories plus
``__other__`` for the rest, and the whole reference vocabulary (for the share of unseen
categories; a few hundred codes at most for this data).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import polars as pl

from mlops_assets.lib.drift.errors import DriftInputError
from mlops_assets.lib.drift.statistics import bin_proportions

OTHER_CATEGORY = "__other__"
PROFILE_FORMAT = "mlops_assets.drift.reference_profile"
PROFILE_VERSION = 1
COUNT_COLUMN = "__drift_count__"  # value_counts' column; a name no feature is expected to have


@dataclass(frozen=True)
class NumericProfile:
    """Reference summary of one numeric feature (see the module docstring for each field's why)."""

    count: int
    missing_share: float
    minimum: float
    maximum: float
    bin_edges: tuple[float, ...]  # interior edges; bins are (-inf, e0], (e0, e1], ..., (e_last, +inf)
    bin_proportions: tuple[float, ...]
    cdf_support: tuple[float, ...]  # strictly increasing
    cdf_values: tuple[float, ...]  # reference CDF at each support value; the last is 1.0
    cdf_exact: bool

    @cached_property
    def edges_array(self) -> np.ndarray:
        return np.asarray(self.bin_edges, dtype=np.float64)

    @cached_property
    def proportions_array(self) -> np.ndarray:
        return np.asarray(self.bin_proportions, dtype=np.float64)

    @cached_property
    def support_array(self) -> np.ndarray:
        return np.asarray(self.cdf_support, dtype=np.float64)

    @cached_property
    def cdf_from_zero(self) -> np.ndarray:
        """[0, F(s0), F(s1), ...], the layout ``statistics.reference_cdf_at`` indexes."""
        return np.concatenate([[0.0], np.asarray(self.cdf_values, dtype=np.float64)])

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "missing_share": self.missing_share,
            "min": self.minimum,
            "max": self.maximum,
            "bin_edges": list(self.bin_edges),
            "bin_proportions": list(self.bin_proportions),
            "cdf_support": list(self.cdf_support),
            "cdf_values": list(self.cdf_values),
            "cdf_exact": self.cdf_exact,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NumericProfile:
        return cls(
            count=int(data["count"]),
            missing_share=float(data["missing_share"]),
            minimum=float(data["min"]),
            maximum=float(data["max"]),
            bin_edges=tuple(map(float, data["bin_edges"])),
            bin_proportions=tuple(map(float, data["bin_proportions"])),
            cdf_support=tuple(map(float, data["cdf_support"])),
            cdf_values=tuple(map(float, data["cdf_values"])),
            cdf_exact=bool(data["cdf_exact"]),
        )


@dataclass(frozen=True)
class CategoricalProfile:
    """Reference summary of one categorical feature."""

    count: int
    missing_share: float
    # The top-k categories by share, then OTHER_CATEGORY if the rest is not empty.
    proportions: Mapping[str, float]
    vocabulary: tuple[str, ...]  # every category seen in the reference, sorted

    @cached_property
    def top_categories(self) -> tuple[str, ...]:
        return tuple(c for c in self.proportions if c != OTHER_CATEGORY)

    @cached_property
    def vocabulary_set(self) -> frozenset[str]:
        return frozenset(self.vocabulary)

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "missing_share": self.missing_share,
            # A list of pairs keeps the order (most frequent first) through any JSON tooling.
            "proportions": [[category, share] for category, share in self.proportions.items()],
            "vocabulary": list(self.vocabulary),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CategoricalProfile:
        return cls(
            count=int(data["count"]),
            missing_share=float(data["missing_share"]),
            proportions={str(category): float(share) for category, share in data["proportions"]},
            vocabulary=tuple(map(str, data["vocabulary"])),
        )


@dataclass(frozen=True)
class ReferenceProfile:
    """Everything ``compare`` needs from the training data; ``to_dict``/``from_dict`` for storage.

    ``numeric`` includes the score column when there is one; ``score_column`` says which it is.
    """

    row_count: int
    numeric: Mapping[str, NumericProfile]
    categorical: Mapping[str, CategoricalProfile]
    score_column: str | None = None
    bins: int = 10
    top_k: int = 20
    ecdf_points: int = 1000
    version: int = field(default=PROFILE_VERSION)

    @property
    def features(self) -> list[str]:
        """Every profiled column, in the order ``compare`` reports them (numeric, then categorical)."""
        return [*self.numeric, *self.categorical]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible dict (only str, int, float, bool, list, dict; no NaN or infinity)."""
        return {
            "format": PROFILE_FORMAT,
            "version": self.version,
            "row_count": self.row_count,
            "score_column": self.score_column,
            "bins": self.bins,
            "top_k": self.top_k,
            "ecdf_points": self.ecdf_points,
            "numeric": {name: p.to_dict() for name, p in self.numeric.items()},
            "categorical": {name: p.to_dict() for name, p in self.categorical.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReferenceProfile:
        if data.get("format") != PROFILE_FORMAT:
            raise DriftInputError(
                f"not a reference profile: format is {data.get('format')!r}, expected {PROFILE_FORMAT!r}"
            )
        if data.get("version") != PROFILE_VERSION:
            raise DriftInputError(
                f"reference profile version {data.get('version')!r} is not supported "
                f"(this code reads {PROFILE_VERSION})"
            )
        score_column = data.get("score_column")
        if score_column is not None and score_column not in data.get("numeric", {}):
            raise DriftInputError(
                f"malformed reference profile: score column {score_column!r} has no numeric profile"
            )
        try:
            return cls(
                row_count=int(data["row_count"]),
                numeric={name: NumericProfile.from_dict(p) for name, p in data["numeric"].items()},
                categorical={
                    name: CategoricalProfile.from_dict(p) for name, p in data["categorical"].items()
                },
                score_column=score_column,
                bins=int(data["bins"]),
                top_k=int(data["top_k"]),
                ecdf_points=int(data["ecdf_points"]),
                version=int(data["version"]),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise DriftInputError(f"malformed reference profile: {type(error).__name__}: {error}") from error


def finite_sorted(series: pl.Series) -> np.ndarray:
    """The non-missing values of a numeric column as a sorted float64 array (null, NaN, +-inf dropped)."""
    values = series.cast(pl.Float64).to_numpy()
    return np.sort(values[np.isfinite(values)])


def _profile_numeric(name: str, series: pl.Series, bins: int, ecdf_points: int) -> NumericProfile:
    values = finite_sorted(series)
    count = values.size
    if count == 0:
        raise DriftInputError(
            f"feature {name!r} has no non-missing value in the reference frame: cannot profile it",
            feature=name,
        )
    is_new_value = np.empty(count, dtype=bool)
    is_new_value[0] = True
    np.not_equal(values[1:], values[:-1], out=is_new_value[1:])
    distinct = values[is_new_value]
    if distinct.size <= ecdf_points:
        last_position_of_value = np.append(np.flatnonzero(is_new_value)[1:], count) - 1
        support, cdf, exact = distinct, (last_position_of_value + 1) / count, True
    else:
        # Inverted-CDF quantile at p = j/m is the value at 1-based rank ceil(j * count / m); integer
        # arithmetic so that j * count / m landing on an integer is not pushed up by rounding.
        steps = np.arange(1, ecdf_points + 1)
        quantiles = values[(steps * count + ecdf_points - 1) // ecdf_points - 1]
        # Of equal quantiles keep the last (largest p): the CDF at that value is at least that p.
        keep = np.append(quantiles[1:] != quantiles[:-1], True)
        support, cdf, exact = quantiles[keep], steps[keep] / ecdf_points, False
    if distinct.size <= bins:
        edges = distinct[:-1]
    else:
        deciles = values[(np.arange(1, bins) * count + bins - 1) // bins - 1]
        edges = np.unique(deciles)
        edges = edges[edges < values[-1]]
    return NumericProfile(
        count=int(count),
        missing_share=(series.len() - count) / series.len(),
        minimum=float(values[0]),
        maximum=float(values[-1]),
        bin_edges=tuple(edges.tolist()),
        bin_proportions=tuple(bin_proportions(values, edges).tolist()),
        cdf_support=tuple(support.tolist()),
        cdf_values=tuple(cdf.tolist()),
        cdf_exact=exact,
    )


def _profile_categorical(name: str, series: pl.Series, top_k: int) -> CategoricalProfile:
    present = series.cast(pl.String).drop_nulls()
    if present.len() == 0:
        raise DriftInputError(
            f"feature {name!r} has no non-missing value in the reference frame: cannot profile it",
            feature=name,
        )
    counts = present.value_counts(name=COUNT_COLUMN).sort([COUNT_COLUMN, name], descending=[True, False])
    categories = counts[name].to_list()
    if OTHER_CATEGORY in categories:
        raise DriftInputError(
            f"feature {name!r} has a category named {OTHER_CATEGORY!r}, which the profile reserves",
            feature=name,
        )
    shares = (counts[COUNT_COLUMN] / present.len()).to_list()
    proportions = dict(zip(categories[:top_k], shares[:top_k], strict=True))
    if len(categories) > top_k:
        proportions[OTHER_CATEGORY] = float(counts[COUNT_COLUMN][top_k:].sum() / present.len())
    return CategoricalProfile(
        count=present.len(),
        missing_share=(series.len() - present.len()) / series.len(),
        proportions=proportions,
        vocabulary=tuple(sorted(categories)),
    )


def check_numeric_dtype(name: str, dtype: pl.DataType, where: str) -> None:
    if not (dtype.is_numeric() or dtype == pl.Boolean):
        raise DriftInputError(
            f"numeric feature {name!r} has dtype {dtype} in the {where} frame, expected a number",
            feature=name,
        )


def check_categorical_dtype(name: str, dtype: pl.DataType, where: str) -> None:
    if not (
        dtype in (pl.String, pl.Boolean) or dtype.is_integer() or isinstance(dtype, (pl.Categorical, pl.Enum))
    ):
        raise DriftInputError(
            f"categorical feature {name!r} has dtype {dtype} in the {where} frame, expected a string, "
            "categorical, enum, integer or boolean",
            feature=name,
        )


def build_profile(
    frame: pl.DataFrame,
    numeric: Sequence[str],
    categorical: Sequence[str],
    score_column: str | None = None,
    *,
    bins: int = 10,
    top_k: int = 20,
    ecdf_points: int = 1000,
) -> ReferenceProfile:
    """Profile the training features (and the model's score on them) once, for every later ``compare``.

    ``score_column`` is profiled like a numeric feature (the score of a classifier or the
    prediction of a regressor) and reported under its own name.
    """
    if bins < 2 or top_k < 1 or ecdf_points < 10:
        raise DriftInputError(
            f"need bins >= 2, top_k >= 1, ecdf_points >= 10; got {bins}, {top_k}, {ecdf_points}"
        )
    numeric_columns = [*numeric, *([score_column] if score_column else [])]
    requested = [*numeric_columns, *categorical]
    duplicated = sorted({c for c in requested if requested.count(c) > 1})
    if duplicated:
        raise DriftInputError(
            f"column(s) {duplicated} listed more than once (numeric, categorical, score)",
            feature=duplicated[0],
        )
    columns = set(frame.columns)
    absent = [c for c in requested if c not in columns]
    if absent:
        raise DriftInputError(
            f"reference frame lacks column(s) {absent}; it has {frame.columns}", feature=absent[0]
        )
    if frame.height == 0:
        raise DriftInputError(f"reference frame has no rows: cannot profile {requested}")
    schema = frame.schema
    for name in numeric_columns:
        check_numeric_dtype(name, schema[name], "reference")
    for name in categorical:
        check_categorical_dtype(name, schema[name], "reference")
    return ReferenceProfile(
        row_count=frame.height,
        numeric={name: _profile_numeric(name, frame[name], bins, ecdf_points) for name in numeric_columns},
        categorical={name: _profile_categorical(name, frame[name], top_k) for name in categorical},
        score_column=score_column,
        bins=bins,
        top_k=top_k,
        ecdf_points=ecdf_points,
    )
