"""MLflow tracking, registry, promotion and lineage, as plain Python."""

from mlops_assets.lib.tracking.tracker import CHALLENGER, CHAMPION, PROFILE_ARTIFACT, Tracker

__all__ = ["CHALLENGER", "CHAMPION", "PROFILE_ARTIFACT", "Tracker"]
