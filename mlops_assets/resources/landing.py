"""The landing zone as a resource: assets read landed files only through it."""

from pathlib import Path

import dagster as dg

from mlops_assets.lib.landing import LandedTable, landed_days, read_landed


class LandingZoneResource(dg.ConfigurableResource):
    """Directory where upstream delivers one file per table and day."""

    directory: str
    # Landing anomalies that warn (the `anomalies` check of each daily table), from settings.
    min_volume_share: float = 0.7
    max_cancelled_share: float = 0.5

    def read(self, table: str, partition: str | None) -> LandedTable:
        return read_landed(Path(self.directory), table, partition)

    def days(self, table: str) -> list[str]:
        return landed_days(Path(self.directory), table)
