"""mlops_assets: an asset-based MLOps platform, one Dagster code location.

``mlops_assets.ModelComponent`` is the component type of ``defs/models/<name>/defs.yaml``
(imported on first use, so the library and the CLI do not import Dagster).
"""

__all__ = ["ModelComponent"]


def __getattr__(name: str):
    if name == "ModelComponent":
        from mlops_assets.components import ModelComponent

        return ModelComponent
    raise AttributeError(f"module 'mlops_assets' has no attribute {name!r}")


def __dir__() -> list[str]:  # the dg registry lists what dir() shows
    return sorted([*globals(), *__all__])
