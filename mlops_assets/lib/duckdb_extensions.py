"""DuckDB extensions installed from their PyPI wheels (duckdb-extension-<name>): nothing downloads.

Each wheel pins the duckdb version its binary was built for. Installing from the wheel's file needs
no network; DuckDB then loads the extension from the directory (profiles turn autoinstall off).
"""

from __future__ import annotations

import importlib
from pathlib import Path


def wheel_extension_dir(directory: Path, extension: str, package: str) -> Path:
    """``directory`` as a DuckDB extension directory holding ``extension``, from wheel ``package``."""
    import duckdb

    config = {"extension_directory": str(directory), "autoinstall_known_extensions": False}
    with duckdb.connect(config=config) as con:
        installed = con.execute(
            "select installed from duckdb_extensions() where extension_name = ?", [extension]
        ).fetchone()
        if not (installed and installed[0]):
            module = importlib.import_module(package)
            (binary,) = Path(module.__file__).parent.rglob("*.duckdb_extension")
            con.execute(f"INSTALL '{binary}'")
    return directory
