"""Reading published tables through lakeFS's S3 gateway (DuckDB httpfs), instead of a mirror.

The gateway addresses an object as bucket = repository, key = ``<ref>/<path>``, on the API's own
host and port (region us-east-1), signed with the lakeFS key. A reader pins a commit id, never a
branch name, so one run reads one commit: ``s3://<repository>/<commit id>/raw/flights/date=*/…``.

The key reaches DuckDB only as a temporary (in-memory) secret: from Python as bound parameters,
from dbt through ``DBT_ENV_SECRET_*`` variables, which dbt scrubs from its logs and allows only in
the profile; the profile itself names the variables, never the values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mlops_assets.errors import StoreError
from mlops_assets.lib.duckdb_extensions import wheel_extension_dir

REGION = "us-east-1"  # what lakeFS's gateway answers as, whatever the blockstore
COMMIT_ID = re.compile(r"^[0-9a-f]{64}$")
# lakeFS's gateway parses V4 signatures with a key id of at most 20 characters.
MAX_KEY_ID = 20
SECRET_VARIABLES = {
    "key_id": "DBT_ENV_SECRET_LAKEFS_ACCESS_KEY_ID",
    "secret": "DBT_ENV_SECRET_LAKEFS_SECRET_ACCESS_KEY",
}


def httpfs_extension_dir(directory: Path) -> Path:
    """A DuckDB extension directory holding httpfs, installed from the duckdb-extension-httpfs wheel."""
    return wheel_extension_dir(directory, "httpfs", "duckdb_extension_httpfs")


@dataclass(frozen=True)
class LakeFSGateway:
    """Where DuckDB reads a lakeFS repository through the S3 gateway, and with which key."""

    endpoint: str
    access_key_id: str
    secret_access_key: str = field(repr=False)
    repository: str

    def __post_init__(self) -> None:
        parts = urlsplit(self.endpoint)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise StoreError(f"lakeFS endpoint {self.endpoint!r}: expected http(s)://host[:port]")
        if len(self.access_key_id) > MAX_KEY_ID:
            raise StoreError(
                f"lakeFS access key id {self.access_key_id[:4]}… has {len(self.access_key_id)} characters: "
                f"lakeFS's S3 gateway refuses a signature with more than {MAX_KEY_ID}; use a key lakeFS made"
            )

    @property
    def host(self) -> str:
        return urlsplit(self.endpoint).netloc

    @property
    def use_ssl(self) -> bool:
        return urlsplit(self.endpoint).scheme == "https"

    def published_root(self, commit_id: str) -> str:
        """The prefix of the tables of one commit (a branch name is refused: it moves during a run)."""
        if not COMMIT_ID.match(commit_id):
            raise StoreError(f"lakeFS gateway reads pin a commit id (64 hex characters), got {commit_id!r}")
        return f"s3://{self.repository}/{commit_id}"

    def _options(self) -> dict[str, Any]:
        return {"endpoint": self.host, "url_style": "path", "use_ssl": self.use_ssl, "region": REGION}

    def create_secret(self, con: Any) -> None:
        """A temporary S3 secret on DuckDB connection ``con`` (httpfs loaded), scoped to the repository."""
        options = self._options()
        con.execute(
            "CREATE OR REPLACE TEMPORARY SECRET lakefs_gateway (TYPE s3, KEY_ID ?, SECRET ?, ENDPOINT ?, "
            "URL_STYLE 'path', USE_SSL ?, REGION ?, SCOPE ?)",
            [
                self.access_key_id,
                self.secret_access_key,
                options["endpoint"],
                options["use_ssl"],
                REGION,
                f"s3://{self.repository}/",
            ],
        )

    def secret_environment(self) -> dict[str, str]:
        """The variables ``profile_secrets_yaml`` reads: for dbt's process environment only."""
        return {
            SECRET_VARIABLES["key_id"]: self.access_key_id,
            SECRET_VARIABLES["secret"]: self.secret_access_key,
        }

    def profile_secrets_yaml(self, indent: int) -> str:
        """dbt-duckdb's ``secrets:`` entry for this gateway: names of variables, never their values."""
        pad = " " * indent
        lines = [
            "secrets:",
            "  - type: s3",
            "    name: lakefs_gateway",
            f"    scope: 's3://{self.repository}/'",
            *(f"    {key}: \"{{{{ env_var('{name}') }}}}\"" for key, name in SECRET_VARIABLES.items()),
            *(f"    {key}: '{str(value).lower()}'" for key, value in self._options().items()),
        ]  # fmt: skip
        return "".join(f"{pad}{line}\n" for line in lines)
