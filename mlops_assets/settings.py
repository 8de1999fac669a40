"""The one place that reads the environment.

Everything else receives a ``Settings`` (or a resource built from it). Embedded
defaults need no variable at all: state lives under ``.mlops/`` in the project root.
Production sets ``MLOPS_ENV=prod`` and the variables of the servers it uses; what is
missing is reported in one error naming every missing variable, never a secret value.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError

from mlops_assets.errors import RetentionError, SettingsError
from mlops_assets.lib.redaction import SecretUrl
from mlops_assets.lib.versioned_store.wap import checked_retention_days

PACKAGE_DIR = Path(__file__).resolve().parent
# The models of the code location: one folder per model, each with its defs.yaml.
MODELS_DIR = PACKAGE_DIR / "defs" / "models"


def project_root() -> Path:
    """The checkout this package runs from (editable install), else the working directory."""
    candidate = PACKAGE_DIR.parent
    return candidate if (candidate / "pyproject.toml").exists() else Path.cwd()


class LakeFSSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    endpoint: str
    access_key_id: str
    secret_access_key: SecretStr
    repository: str
    storage_namespace: str


class WarehousePgSettings(BaseModel):
    """The Postgres database the dbt marts live in (production): shared by every pod."""

    model_config = ConfigDict(frozen=True)

    host: str
    port: int
    database: str
    username: str
    password: SecretStr


class Settings(BaseModel):
    """Validated configuration; ``repr`` and ``str`` never show a secret."""

    model_config = ConfigDict(frozen=True)

    env: Literal["local", "prod"]
    # `code-server` only loads definitions: credentials (CREDENTIAL_VARIABLES) are read by run pods.
    role: Literal["run", "code-server"]
    home: Path
    landing_dir: Path
    min_volume_share: float  # a landed day with fewer rows than this share of the same weekday's median warns
    max_cancelled_share: float  # a landed day with a larger share of cancelled flights warns
    store_backend: Literal["local", "lakefs"]
    local_store_dir: Path
    lakefs: LakeFSSettings | None
    dagster_home: Path
    ui_url: str
    # Where people open the store's objects (the reports): lakeFS, or `make dev`'s store browser.
    store_ui_url: str
    branch_retention_days: float
    executor: Literal["in_process", "multiprocess", "k8s"]
    step_threads: int  # threads each side-by-side step process may use (OpenMP, BLAS)
    mlflow_tracking_uri: SecretUrl  # may carry user:password; shown as its host
    mlflow_ui_url: str | None  # where people open MLflow (links on model materializations)
    mlflow_artifact_dir: Path
    models_dir: Path | None  # None: the models of the defs folder (defs/models/<name>/defs.yaml)
    git_sha: str | None
    alert_webhook_url: SecretUrl | None  # Slack-style webhooks hold a token in the path
    dbt_project_dir: Path
    dbt_warehouse_path: Path
    warehouse_pg: WarehousePgSettings | None  # None: the marts stay in the DuckDB file dbt_warehouse_path
    dbt_lock_retries: int  # retries of a dbt step that hit the Postgres writer role's lock_timeout
    dbt_lock_retry_wait_s: float  # seconds before each of those retries
    published_dir: Path


# Retries of a dbt step cancelled by the writer role's lock_timeout (3 minutes, deploy/README.md): an
# analyst's session holds a mart for at most 2 minutes unless they switched their timeouts off.
DBT_LOCK_RETRIES_DEFAULT = 3
DBT_LOCK_RETRIES_MAX = 10
DBT_LOCK_RETRY_WAIT_S_DEFAULT = 120.0
DBT_LOCK_RETRY_WAIT_S_MIN = 1.0
DBT_LOCK_RETRY_WAIT_S_MAX = 3600.0

STORE_BROWSER_PORT = 3001  # `make dev` serves the local store's objects here

# name -> (embedded default, what it is); the README's settings table is generated from this.
DOCUMENTED_VARIABLES: dict[str, tuple[str, str]] = {
    "MLOPS_ENV": ("local", "`local` (embedded defaults) or `prod` (servers required, see deploy/)"),
    "MLOPS_HOME": ("<project>/.mlops", "state directory: landing zone, local store, Dagster instance"),
    "MLOPS_ROLE": (
        "run",
        "`run` (runs steps: needs every credential) or `code-server` (only loads definitions: the "
        "credentials in CREDENTIAL_VARIABLES are not required, definitions name them as EnvVars)",
    ),
    "MLOPS_MIN_VOLUME_SHARE": (
        "0.7",
        "a landed day with fewer rows than this share of the median of the same weekday over the 4 weeks before "
        "warns (check `anomalies` of each daily table)",
    ),
    "MLOPS_MAX_CANCELLED_SHARE": (
        "0.5",
        "a landed day with a larger share of cancelled flights warns (check `raw/flights:anomalies`)",
    ),
    "MLOPS_LANDING_DIR": ("$MLOPS_HOME/landing", "where upstream delivers one file per table and day"),
    "MLOPS_STORE": (
        "local (lakefs if LAKEFS_ENDPOINT is set)",
        "versioned-store backend: `local` or `lakefs`",
    ),
    "MLOPS_STORE_DIR": ("$MLOPS_HOME/store", "directory of the local versioned store"),
    "LAKEFS_ENDPOINT": ("unset", "lakeFS server, e.g. `http://lakefs:8000`"),
    "LAKEFS_ACCESS_KEY_ID": ("unset", "lakeFS access key id (required with lakefs)"),
    "LAKEFS_SECRET_ACCESS_KEY": ("unset", "lakeFS secret key (required with lakefs; never logged)"),
    "LAKEFS_REPOSITORY": ("mlops", "lakeFS repository name"),
    "LAKEFS_STORAGE_NAMESPACE": (
        "local://mlops",
        "storage namespace used if the repository must be created (required in prod, e.g. s3://BUCKET/mlops)",
    ),
    "MLOPS_UI_URL": ("http://127.0.0.1:3000", "Dagster UI base URL, linked from commit metadata"),
    "MLOPS_STORE_UI_URL": (
        "LAKEFS_ENDPOINT with lakeFS; `http://127.0.0.1:3001` (the store browser `make dev` serves) otherwise",
        "where people open the versioned store's objects: the HTML reports linked from materializations",
    ),
    "MLOPS_BRANCH_RETENTION_DAYS": (
        "7",
        "days (1 to 3660) after its run started that `gc-branches` and the schedule `gc_branches_daily` wait to remove an unpublished WAP branch whose run finished",
    ),
    "DAGSTER_HOME": ("$MLOPS_HOME/dagster", "Dagster instance directory (set by make targets and the CLI)"),
    "MLOPS_EXECUTOR": (
        "multiprocess",
        "run executor: `in_process`, `multiprocess` or `k8s` (k8s_job_executor)",
    ),
    "MLOPS_STEP_THREADS": (
        "1",
        "threads for scikit-learn's OpenMP and numpy's BLAS in each step process of the multiprocess "
        "executor, which runs a step per core side by side (more oversubscribes the cores)",
    ),
    "MLOPS_MLFLOW_UI_URL": (
        "the tracking URI if it is http(s); `make dev` sets it to the MLflow UI it serves",
        "MLflow UI base URL that model materializations link to (run, registered version)",
    ),
    "MLFLOW_TRACKING_URI": (
        "sqlite:///$MLOPS_HOME/mlflow/mlflow.db",
        "MLflow tracking and registry (a server in prod)",
    ),
    "MLFLOW_TRACKING_USERNAME": (
        "unset",
        "user for a tracking server with basic auth (read by MLflow; never logged)",
    ),
    "MLFLOW_TRACKING_PASSWORD": (
        "unset",
        "its password (required with MLFLOW_TRACKING_USERNAME; read by MLflow; never logged)",
    ),
    "MLFLOW_TRACKING_TOKEN": ("unset", "bearer token for the tracking server (read by MLflow; never logged)"),
    "MLOPS_MODELS_DIR": (
        "unset (`mlops_assets/defs/models`)",
        "another folder of model folders (`<name>/defs.yaml`) to load instead: tests, benchmarks",
    ),
    "MLOPS_GIT_SHA": ("`git rev-parse HEAD`", "code version recorded on every model (set at image build)"),
    "MLOPS_ALERT_WEBHOOK_URL": ("unset", "run-failure alerts are POSTed here as JSON (and always logged)"),
    "MLOPS_DBT_PROJECT_DIR": (
        "<project>/dbt_project",
        "the dbt project (dbt-duckdb) built by the `dbt` asset group",
    ),
    "MLOPS_DBT_WAREHOUSE": (
        "$MLOPS_HOME/dbt/warehouse.duckdb",
        "the analysts' DuckDB warehouse the dbt marts are built in; with MLOPS_WAREHOUSE_PG_HOST, "
        "the run's own DuckDB that holds only the staging views",
    ),
    "MLOPS_WAREHOUSE_PG_HOST": (
        "unset (marts in MLOPS_DBT_WAREHOUSE)",
        "Postgres host of the analysts' warehouse: dbt writes the marts there (required in prod)",
    ),
    "MLOPS_WAREHOUSE_PG_PORT": ("5432", "its port"),
    "MLOPS_WAREHOUSE_PG_DB": ("unset", "its database (required with MLOPS_WAREHOUSE_PG_HOST)"),
    "MLOPS_WAREHOUSE_PG_USERNAME": ("unset", "the dbt writer's user (required with MLOPS_WAREHOUSE_PG_HOST)"),
    "MLOPS_WAREHOUSE_PG_PASSWORD": (
        "unset",
        "the dbt writer's password (required with MLOPS_WAREHOUSE_PG_HOST; never logged)",
    ),
    "MLOPS_DBT_LOCK_RETRIES": (
        str(DBT_LOCK_RETRIES_DEFAULT),
        f"times (0 to {DBT_LOCK_RETRIES_MAX}) a Dagster dbt step is retried after Postgres cancelled one of its "
        "statements on the writer role's `lock_timeout` (a lock held by another session, e.g. an analyst's "
        "transaction on a mart); no other failure is retried",
    ),
    "MLOPS_DBT_LOCK_RETRY_WAIT_S": (
        f"{DBT_LOCK_RETRY_WAIT_S_DEFAULT:.0f}",
        f"seconds ({DBT_LOCK_RETRY_WAIT_S_MIN:.0f} to {DBT_LOCK_RETRY_WAIT_S_MAX:.0f}) before each of those retries",
    ),
    "MLOPS_PUBLISHED_DIR": (
        "$MLOPS_HOME/published",
        "Parquet mirror of main that dbt sources read (synced before each dbt run)",
    ),
    "DAGSTER_PG_HOST": ("unset", "Postgres host of Dagster's storage (required in prod)"),
    "DAGSTER_PG_USERNAME": ("unset", "Postgres user (required in prod)"),
    "DAGSTER_PG_PASSWORD": ("unset", "Postgres password (required in prod; never logged)"),
    "DAGSTER_PG_DB": ("unset", "Postgres database (required in prod)"),
}

# Where the marts live when set; all of them or none (the port has a default).
WAREHOUSE_PG_REQUIRED = (
    "MLOPS_WAREHOUSE_PG_HOST",
    "MLOPS_WAREHOUSE_PG_DB",
    "MLOPS_WAREHOUSE_PG_USERNAME",
    "MLOPS_WAREHOUSE_PG_PASSWORD",
)

# Credentials the definitions refer to by name only (dg.EnvVar, or read by a client library at run
# time): a code server that only loads definitions runs without them (MLOPS_ROLE=code-server).
CREDENTIAL_VARIABLES = (
    "LAKEFS_ACCESS_KEY_ID",
    "LAKEFS_SECRET_ACCESS_KEY",
    "MLFLOW_TRACKING_TOKEN",
    "MLOPS_WAREHOUSE_PG_PASSWORD",
)

# Production needs these; the DAGSTER_PG_* values are read by Dagster's own dagster.yaml (deploy/),
# and the marts must outlive the run pods (a Postgres warehouse, not a file on an emptyDir).
PROD_REQUIRED = (
    "DAGSTER_PG_HOST",
    "DAGSTER_PG_USERNAME",
    "DAGSTER_PG_PASSWORD",
    "DAGSTER_PG_DB",
    "MLFLOW_TRACKING_URI",
    *WAREHOUSE_PG_REQUIRED,
)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build settings from ``environ`` (default: the process environment)."""
    env = dict(os.environ if environ is None else environ)

    def get(name: str, default: str | None = None) -> str | None:
        value = env.get(name, "").strip()
        return value or default

    problems: list[str] = []
    mode = get("MLOPS_ENV", "local")
    if mode not in ("local", "prod"):
        problems.append(f"MLOPS_ENV={mode!r}: expected 'local' or 'prod'")
    role = get("MLOPS_ROLE", "run")
    if role not in ("run", "code-server"):
        problems.append(f"MLOPS_ROLE={role!r}: expected 'run' or 'code-server'")
    deferred = set(CREDENTIAL_VARIABLES) if role == "code-server" else set()

    def given(name: str) -> bool:
        """Set, or a credential this role never reads."""
        return bool(get(name)) or name in deferred

    home = Path(get("MLOPS_HOME") or project_root() / ".mlops").expanduser().resolve()
    lakefs_endpoint = get("LAKEFS_ENDPOINT")
    backend = get("MLOPS_STORE", "lakefs" if lakefs_endpoint else "local")
    if backend not in ("local", "lakefs"):
        problems.append(f"MLOPS_STORE={backend!r}: expected 'local' or 'lakefs'")
    if mode == "prod" and backend != "lakefs":
        problems.append("LAKEFS_ENDPOINT: required when MLOPS_ENV=prod (production data lives in lakeFS)")

    lakefs = None
    if backend == "lakefs":
        missing = [
            n for n in ("LAKEFS_ENDPOINT", "LAKEFS_ACCESS_KEY_ID", "LAKEFS_SECRET_ACCESS_KEY") if not given(n)
        ]
        problems.extend(f"{n}: required when MLOPS_STORE=lakefs" for n in missing)
        if lakefs_endpoint and not lakefs_endpoint.startswith(("http://", "https://")):
            problems.append(f"LAKEFS_ENDPOINT={lakefs_endpoint!r}: expected an http:// or https:// URL")
        if not problems:
            lakefs = LakeFSSettings(
                endpoint=lakefs_endpoint,
                access_key_id=get("LAKEFS_ACCESS_KEY_ID", ""),
                secret_access_key=SecretStr(get("LAKEFS_SECRET_ACCESS_KEY", "")),
                repository=get("LAKEFS_REPOSITORY", "mlops"),
                storage_namespace=get("LAKEFS_STORAGE_NAMESPACE", "local://mlops"),
            )

    warehouse_pg = None
    set_pg = [n for n in WAREHOUSE_PG_REQUIRED if get(n)]
    given_pg = [n for n in WAREHOUSE_PG_REQUIRED if given(n)]
    if set_pg and mode != "prod":  # in prod PROD_REQUIRED names every missing one
        missing = [n for n in WAREHOUSE_PG_REQUIRED if n not in given_pg]
        problems.extend(f"{n}: required when {set_pg[0]} is set (the warehouse's Postgres)" for n in missing)
    port_raw = get("MLOPS_WAREHOUSE_PG_PORT", "5432")
    if not (port_raw.isdigit() and 0 < int(port_raw) < 65536):
        problems.append(f"MLOPS_WAREHOUSE_PG_PORT={port_raw!r}: expected a TCP port, e.g. 5432")
    elif set_pg and len(given_pg) == len(WAREHOUSE_PG_REQUIRED):
        warehouse_pg = WarehousePgSettings(
            host=get("MLOPS_WAREHOUSE_PG_HOST"),
            port=int(port_raw),
            database=get("MLOPS_WAREHOUSE_PG_DB"),
            username=get("MLOPS_WAREHOUSE_PG_USERNAME"),
            password=SecretStr(get("MLOPS_WAREHOUSE_PG_PASSWORD", "")),
        )

    webhook = get("MLOPS_ALERT_WEBHOOK_URL")
    if webhook and not webhook.startswith(("http://", "https://")):
        # Not echoed: a webhook URL is a secret, whatever its shape.
        problems.append("MLOPS_ALERT_WEBHOOK_URL: expected an http:// or https:// URL (value not shown)")
    problems.extend(_tracking_credential_problems(get))
    if mode == "prod":
        problems.extend(f"{n}: required when MLOPS_ENV=prod" for n in PROD_REQUIRED if not given(n))
        if backend == "lakefs" and not get("LAKEFS_STORAGE_NAMESPACE"):
            # The default, local://, is refused by a lakeFS whose blockstore is S3, GCS or Azure.
            problems.append(
                "LAKEFS_STORAGE_NAMESPACE: required when MLOPS_ENV=prod (where the repository's objects live, "
                "on the lakeFS server's blockstore, e.g. s3://BUCKET/mlops; the default local:// is only for "
                "a lakeFS with a local blockstore)"
            )
    executor = get("MLOPS_EXECUTOR", "k8s" if mode == "prod" else "multiprocess")
    if executor not in ("in_process", "multiprocess", "k8s"):
        problems.append(f"MLOPS_EXECUTOR={executor!r}: expected 'in_process', 'multiprocess' or 'k8s'")

    step_threads_raw = get("MLOPS_STEP_THREADS", "1")
    step_threads = int(step_threads_raw) if step_threads_raw.isdigit() else 0
    if step_threads < 1:
        problems.append(
            f"MLOPS_STEP_THREADS={step_threads_raw!r}: expected a whole number of threads, 1 or more"
        )

    retention_raw = get("MLOPS_BRANCH_RETENTION_DAYS", "7")
    try:
        retention = checked_retention_days(float(retention_raw), "MLOPS_BRANCH_RETENTION_DAYS")
    except ValueError:
        problems.append(f"MLOPS_BRANCH_RETENTION_DAYS={retention_raw!r}: expected a number of days, e.g. 7")
        retention = 7.0
    except RetentionError as exc:
        problems.append(str(exc))
        retention = 7.0

    def number(name: str, default: str, low: float, high: float, expected: str) -> float:
        raw = get(name, default)
        try:
            value = float(raw)
            if not low <= value <= high:  # also refuses nan
                raise ValueError
            return value
        except ValueError:
            problems.append(f"{name}={raw!r}: expected {expected}")
            return float(default)

    def share(name: str, default: str) -> float:
        return number(name, default, 0, 1, "a share between 0 and 1, e.g. 0.5")

    min_volume_share = share("MLOPS_MIN_VOLUME_SHARE", "0.7")
    lock_retries_raw = get("MLOPS_DBT_LOCK_RETRIES", str(DBT_LOCK_RETRIES_DEFAULT))
    lock_retries = int(lock_retries_raw) if lock_retries_raw.isdigit() else -1
    if not 0 <= lock_retries <= DBT_LOCK_RETRIES_MAX:
        problems.append(
            f"MLOPS_DBT_LOCK_RETRIES={lock_retries_raw!r}: expected a whole number of retries "
            f"from 0 to {DBT_LOCK_RETRIES_MAX}, e.g. {DBT_LOCK_RETRIES_DEFAULT}"
        )
        lock_retries = DBT_LOCK_RETRIES_DEFAULT
    lock_wait_s = number(
        "MLOPS_DBT_LOCK_RETRY_WAIT_S",
        f"{DBT_LOCK_RETRY_WAIT_S_DEFAULT:.0f}",
        DBT_LOCK_RETRY_WAIT_S_MIN,
        DBT_LOCK_RETRY_WAIT_S_MAX,
        f"seconds from {DBT_LOCK_RETRY_WAIT_S_MIN:.0f} to {DBT_LOCK_RETRY_WAIT_S_MAX:.0f}, "
        f"e.g. {DBT_LOCK_RETRY_WAIT_S_DEFAULT:.0f}",
    )
    max_cancelled_share = share("MLOPS_MAX_CANCELLED_SHARE", "0.5")

    if problems:
        raise SettingsError("invalid settings:\n  - " + "\n  - ".join(problems))
    try:
        return Settings(
            env=mode,
            role=role,
            home=home,
            landing_dir=Path(get("MLOPS_LANDING_DIR") or home / "landing").expanduser().resolve(),
            min_volume_share=min_volume_share,
            max_cancelled_share=max_cancelled_share,
            store_backend=backend,
            local_store_dir=Path(get("MLOPS_STORE_DIR") or home / "store").expanduser().resolve(),
            lakefs=lakefs,
            dagster_home=Path(get("DAGSTER_HOME") or home / "dagster").expanduser().resolve(),
            ui_url=get("MLOPS_UI_URL", "http://127.0.0.1:3000").rstrip("/"),
            store_ui_url=get(
                "MLOPS_STORE_UI_URL", lakefs.endpoint if lakefs else f"http://127.0.0.1:{STORE_BROWSER_PORT}"
            ).rstrip("/"),
            branch_retention_days=retention,
            executor=executor,
            step_threads=step_threads,
            mlflow_tracking_uri=SecretUrl(
                get("MLFLOW_TRACKING_URI") or f"sqlite:///{home / 'mlflow' / 'mlflow.db'}"
            ),
            mlflow_ui_url=(get("MLOPS_MLFLOW_UI_URL") or "").rstrip("/") or None,
            mlflow_artifact_dir=home / "mlflow" / "artifacts",
            models_dir=Path(get("MLOPS_MODELS_DIR")).expanduser().resolve()
            if get("MLOPS_MODELS_DIR")
            else None,
            git_sha=get("MLOPS_GIT_SHA"),
            alert_webhook_url=SecretUrl(webhook) if webhook else None,
            dbt_project_dir=Path(get("MLOPS_DBT_PROJECT_DIR") or project_root() / "dbt_project")
            .expanduser()
            .resolve(),
            dbt_warehouse_path=Path(get("MLOPS_DBT_WAREHOUSE") or home / "dbt" / "warehouse.duckdb")
            .expanduser()
            .resolve(),
            warehouse_pg=warehouse_pg,
            dbt_lock_retries=lock_retries,
            dbt_lock_retry_wait_s=lock_wait_s,
            published_dir=Path(get("MLOPS_PUBLISHED_DIR") or home / "published").expanduser().resolve(),
        )
    except ValidationError as exc:  # pragma: no cover - every field is checked above
        # Field and reason only: pydantic's own message repeats the input value.
        fields = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_input=False)
        )
        raise SettingsError(f"invalid settings: {fields}") from None


def _tracking_credential_problems(get: Callable[[str], str | None]) -> list[str]:
    """MLflow reads its credentials from the environment itself; they are checked here, never kept."""
    problems = [
        f"{missing}: required when {given} is set (the tracking server's basic auth)"
        for given, missing in (
            ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"),
            ("MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_USERNAME"),
        )
        if get(given) and not get(missing)
    ]
    uri = get("MLFLOW_TRACKING_URI") or ""
    has_user_info = "@" in uri.split("://", 1)[-1].split("/", 1)[0]
    if has_user_info and (get("MLFLOW_TRACKING_USERNAME") or get("MLFLOW_TRACKING_PASSWORD")):
        # The URI's user:password would silently replace the variables' (lib/tracking).
        problems.append(
            "MLFLOW_TRACKING_URI: carries user:password while MLFLOW_TRACKING_USERNAME/PASSWORD are set; "
            "give the credentials one way"
        )
    return problems


@lru_cache(maxsize=1)
def current_settings() -> Settings:
    """Settings of this process, read once (code-location load, CLI)."""
    return load_settings()
