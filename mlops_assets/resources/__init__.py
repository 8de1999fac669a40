"""Dagster resources: thin adapters from Dagster to the plain machinery in ``lib/``."""

from mlops_assets.resources.io_manager import VersionedParquetIOManager
from mlops_assets.resources.landing import LandingZoneResource
from mlops_assets.resources.store import VersionedStoreResource

__all__ = ["LandingZoneResource", "VersionedParquetIOManager", "VersionedStoreResource"]
