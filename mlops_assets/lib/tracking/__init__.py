"""MLflow tracking, registry, promotion and lineage, as plain Python."""

from mlops_assets.lib.tracking.tracker import CHALLENGER, CHAMPION, Tracker

__all__ = ["CHALLENGER", "CHAMPION", "Tracker"]
