"""The image (deploy/Dockerfile) checked without a container engine: its rules, its build context,
and its command, which is started here exactly as the container starts it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
from dagster._grpc.client import DagsterGrpcClient
from dagster._grpc.types import ListRepositoriesResponse
from dagster._serdes import deserialize_value

from tests.processes import stop_group

from .conftest import DEPLOY, REPO_ROOT
from .dockerfile import build_context, parse_dockerfile
from .postgres_server import free_port

DOCKERFILE = DEPLOY / "Dockerfile"
DOCKERIGNORE = DEPLOY / "Dockerfile.dockerignore"
MODULE = "mlops_assets.definitions"
CODE_SERVER_COMMAND = ["dagster", "api", "grpc", "-h", "0.0.0.0", "-p", "4000", "-m", MODULE]
VENV_BIN = Path(sys.executable).parent
START_TIMEOUT_SECONDS = 90
SECRET = "supersecret123"
# Variables of a production deployment; the start-up tests remove them to control what is set.
DEPLOYMENT_VARIABLES = ("MLOPS_", "LAKEFS_", "MLFLOW_", "DAGSTER_PG_", "DAGSTER_HOME")


def instructions():
    return parse_dockerfile(DOCKERFILE.read_text())


def final_stage(instrs):
    return [i for i in instrs if i.stage == instrs[-1].stage]


def test_base_image_is_pinned_by_exact_tag_and_digest():
    instrs = instructions()
    stages = {i.stage for i in instrs}
    bases = [i.args.split()[0] for i in instrs if i.keyword == "FROM"]
    external = [base for base in bases if base not in stages]
    assert len(external) == 1, f"one external base image for every stage, got {external}"
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm@sha256:[0-9a-f]{64}", external[0])


def test_image_runs_as_a_fixed_non_root_user():
    users = [i.args for i in final_stage(instructions()) if i.keyword == "USER"]
    assert users, "the final stage sets no USER: the container would run as root"
    uid, _, gid = users[-1].partition(":")
    # Numeric ids: Kubernetes can only verify runAsNonRoot for a numeric user.
    assert uid.isdigit() and int(uid) >= 10000 and gid.isdigit()


def test_healthcheck_asks_the_grpc_server():
    (healthcheck,) = [i for i in final_stage(instructions()) if i.keyword == "HEALTHCHECK"]
    assert healthcheck.exec_form() == ["dagster", "api", "grpc-health-check", "-p", "4000"]


def test_command_is_the_code_server_and_nothing_wraps_it():
    final = final_stage(instructions())
    (cmd,) = [i for i in final if i.keyword == "CMD"]
    assert cmd.exec_form() == CODE_SERVER_COMMAND
    # The chart passes its own args: an ENTRYPOINT would be prepended to them.
    assert not [i for i in instructions() if i.keyword == "ENTRYPOINT"]
    assert [i.args for i in final if i.keyword == "EXPOSE"] == ["4000"]


def test_image_installs_the_runtime_lock_with_hashes_then_the_project_alone():
    (install,) = [i.args for i in instructions() if i.keyword == "RUN" and "pip install" in i.args]
    # The locked versions, each checked against its hash; the project without resolving anything.
    assert [command.strip() for command in install.split("&&")] == [
        "pip install --no-cache-dir --require-hashes --no-deps -r requirements-runtime.lock",
        "pip install --no-cache-dir --no-deps --no-build-isolation .",
        "pip check",
    ]
    assert "requirements-runtime.lock" in build_context(REPO_ROOT, DOCKERIGNORE)


def test_image_dependencies_include_what_run_pods_need():
    # Run and step pods run this image and load the production instance from it: Postgres storage
    # (dagster-postgres) and the Kubernetes launcher and executor (dagster-k8s).
    dependencies = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower() for requirement in dependencies}
    assert {"dagster-k8s", "dagster-postgres"} <= names
    # ...and the compute log manager deploy/dagster.yaml names (S3ComputeLogManager).
    assert "dagster-aws" in names


def test_dbt_manifest_is_prepared_at_build_time_only_once_a_dbt_project_exists():
    (step,) = [i.args for i in instructions() if i.keyword == "RUN" and "prepare-dbt" in i.args]
    assert "if [ -d dbt_project ]; then python -m mlops_assets prepare-dbt" in step


def test_build_context_holds_what_the_build_copies_and_no_local_state():
    context = build_context(REPO_ROOT, DOCKERIGNORE)
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    # `pip install .` needs the metadata, the readme it declares and every module of the package.
    package = {
        str(p.relative_to(REPO_ROOT))
        for p in (REPO_ROOT / "mlops_assets").rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert {"pyproject.toml", project["readme"], *package} <= context
    for path in context:
        assert not path.startswith((".venv", ".mlops", ".git/", "tests/", "deploy/")), path
        assert "__pycache__" not in path
    for copy in (i for i in instructions() if i.keyword == "COPY" and "--from=" not in i.args):
        *sources, _destination = copy.args.split()
        for source in sources:
            assert (REPO_ROOT / source).exists(), f"COPY source {source} is not in the repository"
            assert source == "." or any(
                p == source or p.startswith(source.rstrip("/") + "/") for p in context
            )


def _code_server_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(DEPLOYMENT_VARIABLES)}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"  # the image's PATH starts with its venv
    env["MLOPS_HOME"] = str(tmp_path / "mlops")
    return {**env, **extra}


def _command_on(port: int) -> list[str]:
    # The image's command, on loopback and a free port instead of 0.0.0.0:4000.
    command = list(CODE_SERVER_COMMAND)
    command[command.index("-h") + 1] = "127.0.0.1"
    command[command.index("-p") + 1] = str(port)
    return command


def _stop(process: subprocess.Popen) -> bool:
    """SIGTERM, as Kubernetes sends it, then SIGKILL after a grace period; True if SIGTERM sufficed."""
    return stop_group(process)


@pytest.mark.slow
def test_image_command_serves_the_code_location_and_writes_nothing(tmp_path):
    port = free_port()
    # Like the image: a working directory that is not the checkout, a home and state directories
    # that the read-only root filesystem would not let it write to.
    workdir, home = tmp_path / "app", tmp_path / "home"
    workdir.mkdir()
    home.mkdir()
    env = _code_server_env(tmp_path, HOME=str(home), DAGSTER_HOME=str(tmp_path / "dagster_home"))
    log = tmp_path / "code-server.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            _command_on(port),
            cwd=workdir,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, ended as a whole
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            health = subprocess.run(
                [str(VENV_BIN / "dagster"), "api", "grpc-health-check", "-h", "127.0.0.1", "-p", str(port)],
                check=False,
                capture_output=True,
                text=True,
                timeout=60,
            )
            if health.returncode == 0 or server.poll() is not None or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert server.poll() is None, log.read_text(errors="replace")[-3000:]
        assert health.returncode == 0, health.stdout + health.stderr

        response = deserialize_value(
            DagsterGrpcClient(port=port, host="127.0.0.1").list_repositories(), ListRepositoriesResponse
        )
        pointers = response.repository_code_pointer_dict.values()
        assert [(p.module, p.fn_name) for p in pointers] == [(MODULE, "defs")]
    finally:
        stopped_by_sigterm = _stop(server)
    assert stopped_by_sigterm, "the code server must shut down on SIGTERM (pod termination)"
    assert not any(workdir.iterdir()) and not any(home.iterdir())
    assert not (tmp_path / "dagster_home").exists() and not (tmp_path / "mlops").exists()


def test_production_start_without_settings_fails_with_one_message_and_no_secret(tmp_path):
    env = _code_server_env(tmp_path, MLOPS_ENV="prod", LAKEFS_SECRET_ACCESS_KEY=SECRET)
    done = subprocess.run(
        _command_on(free_port()),
        cwd=tmp_path,
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_SECONDS,
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0, "the code server must not serve a code location that cannot load"
    # One message naming every missing variable (the first problem explains why lakeFS is required).
    match = re.search(r"SettingsError: invalid settings:\n((?:  - .*\n?)+)", output)
    assert match, output[-3000:]
    named = re.findall(r"  - ([A-Z_]+)[:=]", match.group(1))
    assert named == [
        "LAKEFS_ENDPOINT",
        "DAGSTER_PG_HOST",
        "DAGSTER_PG_USERNAME",
        "DAGSTER_PG_PASSWORD",
        "DAGSTER_PG_DB",
        "MLFLOW_TRACKING_URI",
        "MLOPS_WAREHOUSE_PG_HOST",
        "MLOPS_WAREHOUSE_PG_DB",
        "MLOPS_WAREHOUSE_PG_USERNAME",
        "MLOPS_WAREHOUSE_PG_PASSWORD",
    ]
    assert SECRET not in output
