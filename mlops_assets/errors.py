"""One exception hierarchy for the whole package.

Every message names what failed and where (file, column, partition, setting,
branch) and what was expected. Secrets never appear in messages.
"""

from __future__ import annotations


class MlopsError(Exception):
    """Base of every error this package raises on purpose."""


class SettingsError(MlopsError):
    """An environment variable is missing or malformed."""


class RetentionError(MlopsError):
    """A retention (an age in days) is not a number within its limits."""


class LandingError(MlopsError):
    """A landed source file is missing, unreadable or has the wrong shape."""

    def __init__(self, message: str, *, path: str, partition: str | None, column: str | None = None):
        self.path = path
        self.partition = partition
        self.column = column
        super().__init__(message)


class StoreError(MlopsError):
    """Base for versioned-store failures."""


class RepositoryNotFound(StoreError):
    pass


class RefNotFound(StoreError):
    """A branch, commit or ref does not exist."""


class ObjectNotFound(StoreError):
    """No object at that path in that ref."""


class BranchExists(StoreError):
    pass


class MergeConflict(StoreError):
    """Both sides changed the same path since their merge base."""

    def __init__(self, message: str, *, paths: list[str] | None = None):
        self.paths = paths or []
        super().__init__(message)


class StoreUnavailable(StoreError):
    """The store did not answer (network, 5xx) after bounded retries."""


class MirrorPathError(StoreError):
    """An object key would be written outside the directory that mirrors the store."""


class NothingToCommit(StoreError):
    """A commit was asked for on a branch without staged changes."""


class ModelIntegrityError(MlopsError):
    """A model version is not what the audited ``models/<spec>`` table recorded, or not loadable
    safely (a format other than skops, a type outside our trusted list): it is never loaded."""

    def __init__(self, spec_name: str, version: str, mismatches: list[str]):
        self.spec_name = spec_name
        self.version = str(version)
        self.mismatches = list(mismatches)
        super().__init__(
            f"models/{spec_name} v{self.version}: refused to load the model: {'; '.join(self.mismatches)}"
        )


class WarehouseLockTimeout(MlopsError):
    """A dbt run was cancelled by the Postgres warehouse's ``lock_timeout`` once more than its
    retries allow: another session kept a lock on the tables it replaces."""
