"""Drift and data-quality monitoring: a reference profile of the training features, compared each day.

At training time ``build_profile`` summarises the features (and the model's score) into a small
``ReferenceProfile``; ``profile.to_dict()`` is JSON-compatible, to be stored with the model. Each
day ``compare(profile, day_frame, thresholds)`` returns a long polars table (metric, feature,
value, threshold, status); ``feature_status`` and ``drifting_features`` summarise it.

Pure polars/numpy/scipy, no pandas and no Dagster: the monitoring asset owns storage and I/O.
"""

from mlops_assets.lib.drift.comparison import (
    DRIFT,
    OK,
    WARN,
    DriftThresholds,
    compare,
    drifting_features,
    feature_status,
)
from mlops_assets.lib.drift.errors import DriftInputError
from mlops_assets.lib.drift.profile import (
    OTHER_CATEGORY,
    CategoricalProfile,
    NumericProfile,
    ReferenceProfile,
    build_profile,
)
from mlops_assets.lib.drift.statistics import PSI_EPSILON

__all__ = [
    "DRIFT",
    "OK",
    "OTHER_CATEGORY",
    "PSI_EPSILON",
    "WARN",
    "CategoricalProfile",
    "DriftInputError",
    "DriftThresholds",
    "NumericProfile",
    "ReferenceProfile",
    "build_profile",
    "compare",
    "drifting_features",
    "feature_status",
]
