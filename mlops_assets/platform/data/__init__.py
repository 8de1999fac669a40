"""Source datasets: ``raw/flights`` and ``raw/weather`` (daily) and the dimension tables."""

from mlops_assets.platform.data.assets import build_defs

__all__ = ["build_defs"]
