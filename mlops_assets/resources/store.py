"""The versioned store as a Dagster resource (local or lakeFS, chosen by settings)."""

import dagster as dg
from pydantic import Field

from mlops_assets.errors import SettingsError
from mlops_assets.lib.versioned_store import LocalStore, VersionedStore
from mlops_assets.lib.versioned_store.base import MAIN, object_url

# lakeFS's garbage-collection rules (setup-store): main's history is the audit trail (which data
# trained which model, what a prediction read), kept ten years; an unpublished WAP branch's commits
# only explain a failed run, a week. lakeFS's GC job deletes what falls outside (deploy/README.md).
MAIN_RETENTION_DAYS = 3650
OTHER_BRANCHES_RETENTION_DAYS = 7


class VersionedStoreResource(dg.ConfigurableResource):
    """Where every asset value is versioned: ``local`` (embedded) or ``lakefs``."""

    backend: str = Field(default="local", description="'local' or 'lakefs'")
    local_dir: str = Field(default="", description="directory of the local store")
    repository: str = Field(default="mlops", description="repository name")
    lakefs_endpoint: str = ""
    lakefs_access_key_id: str = ""
    # Set through dg.EnvVar so the UI shows the variable's name, never the secret.
    lakefs_secret_access_key: str = ""
    lakefs_storage_namespace: str = "local://mlops"
    ui_url: str = Field(default="http://127.0.0.1:3000", description="Dagster UI, linked from commits")
    objects_url: str = Field(
        default="",
        description="where people open the store's objects (MLOPS_STORE_UI_URL): lakeFS, or `make dev`'s store browser",
    )

    def open(self) -> VersionedStore:
        """The store, with its repository created if needed."""
        if self.backend == "local":
            if not self.local_dir:
                raise SettingsError("the local versioned store needs a directory (MLOPS_STORE_DIR)")
            store: VersionedStore = LocalStore(self.local_dir, self.repository)
        elif self.backend == "lakefs":
            from mlops_assets.lib.versioned_store.lakefs import LakeFSStore

            secret = self.lakefs_secret_access_key
            if isinstance(secret, dg.EnvVar):
                # Opened outside a run (the CLI, the demo's summary): Dagster has not resolved it.
                secret = secret.get_value() or ""
            store = LakeFSStore(
                endpoint=self.lakefs_endpoint,
                access_key_id=self.lakefs_access_key_id,
                secret_access_key=secret.strip(),  # a mounted file's newline
                repository=self.repository,
                storage_namespace=self.lakefs_storage_namespace,
            )
        else:
            raise SettingsError(f"MLOPS_STORE={self.backend!r}: expected 'local' or 'lakefs'")
        store.ensure_repository()
        return store

    def setup(self) -> str:
        """``setup-store``: the repository, and on lakeFS a protection rule on ``main`` so that lakeFS
        itself refuses any direct write, commit or deletion there; data then reaches ``main`` only by
        the write-audit-publish merge. Idempotent. Returns what was done, for a person."""
        store = self.open()
        described = store.describe()
        where = f"{described.backend} repository {described.repository!r} at {described.location}"
        protect = getattr(store, "protect_branch", None)
        if protect is None:
            return f"{where}: ready (the local store has no server to enforce protection; the audit is the code's)"
        added = protect(MAIN)
        store.set_retention(OTHER_BRANCHES_RETENTION_DAYS, {MAIN: MAIN_RETENTION_DAYS})
        return (
            f"{where}: ready; main is protected ({'rule added' if added else 'rule already there'});"
            f" garbage collection keeps main's history {MAIN_RETENTION_DAYS} days, other branches'"
            f" {OTHER_BRANCHES_RETENTION_DAYS}"
        )

    def run_url(self, run_id: str) -> str:
        return f"{self.ui_url}/runs/{run_id}"

    def object_url(self, store: VersionedStore, commit_id: str, path: str) -> str:
        """A link to one object at one commit: lakeFS's own object route (``.../refs/<commit>/objects?path=``),
        which the lakeFS UI's session opens, and which ``make dev``'s store browser serves for the local store."""
        return object_url(self.objects_url, store.describe().repository, commit_id, path)

    def commit_url(self, store: VersionedStore, commit_id: str) -> str | None:
        """A link to the commit where the backend has a UI (lakeFS); None for the local store."""
        commit_url = getattr(store, "commit_url", None)
        return commit_url(commit_id) if commit_url else None
