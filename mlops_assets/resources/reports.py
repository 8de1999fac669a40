"""Where the self-contained HTML monitoring reports are written (linked from each materialization)."""

from pathlib import Path

import dagster as dg


class ReportsResource(dg.ConfigurableResource):
    """A directory of HTML reports, one per model and day: ``<directory>/<model>/<day>.html``,
    and the overview of every model: ``<directory>/overview.html``."""

    directory: str

    def path(self, model: str, day: str) -> Path:
        path = Path(self.directory) / model / f"{day}.html"
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def overview_path(self) -> Path:
        """The Model Operations Center page, next to the models' report folders (it links into them)."""
        path = Path(self.directory) / "overview.html"
        path.parent.mkdir(parents=True, exist_ok=True)
        return path
