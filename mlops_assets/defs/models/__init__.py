"""Models: one ``models/<spec>`` asset per YAML spec, with its contract and promotion checks."""

from mlops_assets.defs.models.assets import build_defs

__all__ = ["build_defs"]
