"""The one error the drift package raises on purpose."""

from __future__ import annotations

from mlops_assets.errors import MlopsError


class DriftInputError(MlopsError):
    """A frame, a feature list, a profile or a threshold cannot be used for a drift comparison.

    ``feature`` names the offending feature (or the first of several) when there is one, so a
    monitoring asset can put it in its metadata without parsing the message.
    """

    def __init__(self, message: str, *, feature: str | None = None):
        self.feature = feature
        super().__init__(message)
