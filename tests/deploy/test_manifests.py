"""Kubernetes side: the kustomize manifests, the Helm values and what they render, validated against
the Kubernetes schemas of K8S_VERSION, and kept consistent with the image, the production instance
config and the settings the code location requires."""

from __future__ import annotations

import re
import shutil
import subprocess

import dagster as dg
import kubernetes_validate
import pytest
import yaml
from dagster_k8s.job import get_user_defined_k8s_config

from mlops_assets.settings import CREDENTIAL_VARIABLES, PROD_REQUIRED, load_settings

from .chart import render_code_deployment, unknown_keys
from .conftest import DEPLOY, K8S_VERSION, REPO_ROOT, code_deployment, read_yaml, read_yaml_documents
from .dockerfile import parse_dockerfile

K8S_DIR = DEPLOY / "k8s"
# lakeFS's ACL auth server (k8s/lakefs-acl.yaml): the name, or the prefix, of each of its objects.
ACL_SERVER = "lakefs-acl"
LAKEFS_NAMESPACE = "lakefs"
SECRETS_TEMPLATE = K8S_DIR / "secrets.template.yaml"
# Secret keys the code location reads, and the non-secret addresses beside them (ConfigMap).
CREDENTIAL_KEYS = {
    "LAKEFS_ACCESS_KEY_ID",
    "LAKEFS_SECRET_ACCESS_KEY",
    "MLFLOW_TRACKING_TOKEN",
    "MLOPS_WAREHOUSE_PG_PASSWORD",
    # The compute-log bucket's keys (boto3's names), for S3ComputeLogManager.
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
}
SERVICE_KEYS = {
    "DAGSTER_PG_HOST",
    "DAGSTER_PG_USERNAME",
    "DAGSTER_PG_DB",
    "LAKEFS_ENDPOINT",
    "LAKEFS_REPOSITORY",
    "LAKEFS_STORAGE_NAMESPACE",
    "MLFLOW_TRACKING_URI",
    "MLOPS_WAREHOUSE_PG_HOST",
    "MLOPS_WAREHOUSE_PG_PORT",
    "MLOPS_WAREHOUSE_PG_DB",
    "MLOPS_WAREHOUSE_PG_USERNAME",
    "MLOPS_UI_URL",
    "MLOPS_STORE_UI_URL",
    "DAGSTER_COMPUTE_LOGS_BUCKET",
    "DAGSTER_COMPUTE_LOGS_PREFIX",
    "DAGSTER_COMPUTE_LOGS_ENDPOINT",
}


def values() -> dict:
    return read_yaml(DEPLOY / "helm" / "values.yaml")


def prod_instance() -> dict:
    return read_yaml(DEPLOY / "dagster.yaml")


def launcher_config() -> dict:
    """The run launcher's config: deploy/dagster.yaml's (values.yaml must hold the same)."""
    return prod_instance()["run_launcher"]["config"]


def services() -> dict[str, str]:
    (config_map,) = by_kind("ConfigMap")
    return config_map["data"]


def kustomization() -> dict:
    return read_yaml(K8S_DIR / "kustomization.yaml")


def manifests() -> list[dict]:
    return [
        doc
        for path in sorted(K8S_DIR.glob("*.yaml"))
        if path.name != "kustomization.yaml"
        for doc in read_yaml_documents(path)
    ]


def by_kind(kind: str) -> list[dict]:
    return [doc for doc in manifests() if doc["kind"] == kind]


def secrets() -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for doc in read_yaml_documents(SECRETS_TEMPLATE)}


def named(kind: str, name: str) -> dict:
    (doc,) = [doc for doc in by_kind(kind) if doc["metadata"]["name"] == name]
    return doc


def selects(selector: dict, labels: dict) -> bool:
    """Kubernetes label-selector semantics (matchLabels and matchExpressions In/NotIn/Exists)."""
    if any(labels.get(key) != value for key, value in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        present, value = expr["key"] in labels, labels.get(expr["key"])
        ok = {
            "In": present and value in expr.get("values", []),
            "NotIn": not present or value not in expr.get("values", []),
            "Exists": present,
            "DoesNotExist": not present,
        }[expr["operator"]]
        if not ok:
            return False
    return True


def test_every_manifest_validates_against_the_kubernetes_schemas():
    checked = []
    for doc in manifests():
        # strict: unknown fields are errors too, as `kubectl apply --validate=strict` makes them.
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        checked.append(doc["kind"])
    assert sorted(checked) == sorted(
        [
            "ConfigMap",
            "Deployment",
            "Namespace",
            *["NetworkPolicy"] * 16,
            "PersistentVolumeClaim",
            "Role",
            "RoleBinding",
            *["Secret"] * 8,
            "Service",
            *["ServiceAccount"] * 5,
        ]
    )


def test_kustomization_applies_every_manifest_except_the_secret_template():
    listed = set(kustomization()["resources"])
    files = {path.name for path in K8S_DIR.glob("*.yaml")} - {"kustomization.yaml"}
    # Applying the template's empty values would overwrite the real credentials.
    assert listed == files - {SECRETS_TEMPLATE.name}
    # Every object names its namespace (the kustomization sets none): ours, and lakeFS's for its ACL
    # server and that server's Secret.
    namespace = prod_instance()["run_launcher"]["config"]["job_namespace"]
    assert named("Namespace", namespace) and "namespace" not in kustomization()
    for doc in manifests():
        if doc["kind"] != "Namespace":
            expected = LAKEFS_NAMESPACE if doc["metadata"]["name"].startswith(ACL_SERVER) else namespace
            assert doc["metadata"]["namespace"] == expected, doc["metadata"]["name"]


def test_kustomize_build_renders_objects_that_validate():
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip(
            "kubectl (with its built-in kustomize) is not installed: only the listed manifests are validated"
        )
    done = subprocess.run(
        [kubectl, "kustomize", str(K8S_DIR)], check=False, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    rendered = [doc for doc in yaml.safe_load_all(done.stdout) if doc]
    for doc in rendered:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        assert doc["metadata"].get("namespace", doc["metadata"]["name"]) in {"dagster", LAKEFS_NAMESPACE}
        assert doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "mlops-assets"
    assert {doc["kind"] for doc in rendered} == {
        "Deployment",
        "Service",
        "Namespace",
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "NetworkPolicy",
        "PersistentVolumeClaim",
        "ConfigMap",
    }
    # Selectors are left alone: the policies still select the chart's pods.
    for policy in (doc for doc in rendered if doc["kind"] == "NetworkPolicy"):
        assert "app.kubernetes.io/part-of" not in policy["spec"]["podSelector"].get("matchLabels", {})


def test_secret_template_holds_no_value_and_every_credential_the_deployment_reads():
    for secret in secrets().values():
        assert "data" not in secret
        assert all(value == "" for value in secret["stringData"].values()), secret["metadata"]["name"]
    pg_secret = values()["global"]["postgresqlSecretName"]
    assert pg_secret == launcher_config()["postgres_password_secret"]
    assert set(secrets()[pg_secret]["stringData"]) == {"postgresql-password"}  # the chart's key
    run_secrets = launcher_config()["env_secrets"]
    assert {key for name in run_secrets for key in secrets()[name]["stringData"]} == CREDENTIAL_KEYS
    # The addresses are not secret: a ConfigMap every Dagster pod reads, none of them a credential.
    assert set(services()) == SERVICE_KEYS and not SERVICE_KEYS & CREDENTIAL_KEYS
    assert launcher_config()["env_config_maps"] == [by_kind("ConfigMap")[0]["metadata"]["name"]]
    assert services()["DAGSTER_PG_HOST"] == values()["postgresql"]["postgresqlHost"]
    assert services()["DAGSTER_PG_USERNAME"] == values()["postgresql"]["postgresqlUsername"]
    assert services()["DAGSTER_PG_DB"] == values()["postgresql"]["postgresqlDatabase"]


def _pod_environment(env: list[dict], config_maps: list[str], secret_names: list[str]) -> dict[str, str]:
    """A pod's environment once the ConfigMap and the Secrets it reads are filled in."""
    environ = {item["name"]: item["value"] for item in env}
    for name in config_maps:
        assert name == by_kind("ConfigMap")[0]["metadata"]["name"]
        environ.update(services())
    for name in secret_names:
        environ.update({key: f"filled-{key.lower()}" for key in secrets()[name]["stringData"]})
    environ["DAGSTER_PG_PASSWORD"] = "filled"  # the chart injects it from global.postgresqlSecretName
    return environ


def _code_server_environment() -> dict[str, str]:
    deployment = code_deployment(values())
    return _pod_environment(
        deployment["env"],
        [c["name"] for c in deployment["envConfigMaps"]],
        [s["name"] for s in deployment["envSecrets"]],
    )


def test_code_server_environment_satisfies_the_production_settings():
    rendered = render_code_deployment(values())
    container = rendered["spec"]["template"]["spec"]["containers"][0]
    environ = _code_server_environment()
    settings = load_settings(environ)
    assert (settings.env, settings.store_backend, settings.executor) == ("prod", "lakefs", "k8s")
    assert str(settings.landing_dir) == "/mnt/landing"
    assert set(PROD_REQUIRED) - set(CREDENTIAL_VARIABLES) <= set(environ) | {
        e["name"] for e in container["env"]
    }


def test_standalone_run_pods_get_the_same_environment():
    # Run pods get env_vars (NAME=value), the services ConfigMap and the writer Secrets.
    launcher = launcher_config()
    assert all("=" in item for item in launcher["env_vars"])
    env = [{"name": k, "value": v} for k, v in (item.split("=", 1) for item in launcher["env_vars"])]
    settings = load_settings(_pod_environment(env, launcher["env_config_maps"], launcher["env_secrets"]))
    assert (settings.env, settings.role, settings.executor) == ("prod", "run", "k8s")
    assert str(settings.landing_dir) == "/mnt/landing"
    assert (settings.ui_url, settings.store_ui_url) == (
        services()["MLOPS_UI_URL"],
        services()["MLOPS_STORE_UI_URL"],
    )
    assert settings.warehouse_pg is not None and settings.warehouse_pg.password.get_secret_value()


def test_values_use_only_keys_the_chart_defines():
    assert unknown_keys(values()) == []


def test_values_render_a_valid_hardened_code_server_that_runs_the_image_command():
    rendered = render_code_deployment(values())
    kubernetes_validate.validate(rendered, K8S_VERSION, strict=True)
    pod = rendered["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    dockerfile = parse_dockerfile((DEPLOY / "Dockerfile").read_text())
    (cmd,) = [i for i in dockerfile if i.keyword == "CMD"]
    assert container["args"] == cmd.exec_form()

    (user,) = [i.args for i in dockerfile if i.keyword == "USER"]
    uid, gid = (int(part) for part in user.split(":"))
    security = container["securityContext"]
    assert (security["runAsNonRoot"], security["runAsUser"], security["runAsGroup"]) == (True, uid, gid)
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    for kind in ("requests", "limits"):
        assert set(container["resources"][kind]) == {"cpu", "memory"}

    # With a read-only root, every place the code writes to is a volume.
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    env = {e["name"]: e.get("value") for e in container["env"]}
    image_env = dict(item.split("=", 1) for i in dockerfile if i.keyword == "ENV" for item in i.args.split())
    assert {
        "/tmp",
        image_env["MLOPS_HOME"],
        f"{image_env['DAGSTER_HOME']}/storage",
        env["MLOPS_LANDING_DIR"],
    } <= set(mounts)
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert set(mounts.values()) <= set(volumes)
    (pvc,) = by_kind("PersistentVolumeClaim")
    assert (
        volumes[mounts[env["MLOPS_LANDING_DIR"]]]["persistentVolumeClaim"]["claimName"]
        == pvc["metadata"]["name"]
    )
    assert pod["serviceAccountName"] in {sa["metadata"]["name"] for sa in by_kind("ServiceAccount")}


@pytest.mark.parametrize("component", ["dagsterWebserver", "dagsterDaemon"])
def test_dagster_components_run_without_privileges_within_resource_limits(component):
    settings = values()[component]
    # The chart passes these blocks verbatim into the pod spec: they must be valid Kubernetes.
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": component.lower()},
        "spec": {
            "securityContext": settings["podSecurityContext"],
            "containers": [
                {
                    "name": component.lower(),
                    "image": "dagster",
                    "securityContext": settings["securityContext"],
                    "resources": settings["resources"],
                }
            ],
        },
    }
    kubernetes_validate.validate(pod, K8S_VERSION, strict=True)
    assert settings["securityContext"]["allowPrivilegeEscalation"] is False
    assert settings["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert settings["podSecurityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for kind in ("requests", "limits"):
        assert set(settings["resources"][kind]) == {"cpu", "memory"}


def test_network_policy_admits_only_the_webserver_and_daemon_on_the_grpc_port():
    policy = named("NetworkPolicy", "mlops-assets-code-server")
    rendered = render_code_deployment(values())
    assert selects(policy["spec"]["podSelector"], rendered["spec"]["template"]["metadata"]["labels"])
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    (rule,) = policy["spec"]["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": code_deployment(values())["port"]}]
    # Pod labels the dagster/dagster chart gives its components, and those of a run pod.
    chart = {"app.kubernetes.io/name": "dagster", "app.kubernetes.io/instance": "dagster"}
    admitted = {"component": "dagster-webserver"}, {"component": "dagster-daemon"}
    refused = {"component": "dagster-celery-workers"}, {"app.kubernetes.io/component": "run_worker"}
    (peer,) = rule["from"]
    assert all(selects(peer["podSelector"], {**chart, **labels}) for labels in admitted)
    assert not any(selects(peer["podSelector"], {**chart, **labels}) for labels in refused)
    assert not selects(peer["podSelector"], {"component": "dagster-webserver"})  # same label, another app


def test_instance_choices_agree_between_helm_values_and_dagster_yaml():
    chart, instance = values(), prod_instance()
    # Run and pool limits live in `concurrency` only (the instance refuses them in both places).
    assert chart["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"] == {}
    assert "config" not in instance["run_coordinator"]
    assert chart["concurrency"] == {
        "enabled": True,
        "pools": {
            "defaultLimit": instance["concurrency"]["pools"]["default_limit"],
            "granularity": instance["concurrency"]["pools"]["granularity"],
        },
        "runs": {"maxConcurrentRuns": instance["concurrency"]["runs"]["max_concurrent_runs"]},
    }
    assert chart["telemetry"] == instance["telemetry"] == {"enabled": False}
    # Freshness is evaluated by default since Dagster 1.12: no preview switch left anywhere.
    assert "freshness" not in instance and "freshness" not in chart.get("additionalInstanceConfig", {})
    # Step output is kept (S3-compatible bucket, addresses from the environment), the same both ways.
    assert chart["computeLogManager"]["type"] == instance["compute_logs"]["class"] == "S3ComputeLogManager"
    assert instance["compute_logs"]["module"] == "dagster_aws.s3.compute_log_manager"
    s3 = chart["computeLogManager"]["config"]["s3ComputeLogManager"]
    logs = instance["compute_logs"]["config"]
    assert {re.sub(r"_(\w)", lambda m: m[1].upper(), key): value for key, value in logs.items()} == s3
    assert {key: logs[key] for key in ("bucket", "prefix", "endpoint_url")} == {
        "bucket": {"env": "DAGSTER_COMPUTE_LOGS_BUCKET"},
        "prefix": {"env": "DAGSTER_COMPUTE_LOGS_PREFIX"},
        "endpoint_url": {"env": "DAGSTER_COMPUTE_LOGS_ENDPOINT"},
    }
    # Retries: the chart's runRetries say what deploy/dagster.yaml's run_retries say.
    retries = chart["dagsterDaemon"]["runRetries"]
    assert {
        "enabled": retries["enabled"],
        "max_retries": retries["maxRetries"],
        "retry_on_asset_or_op_failure": retries["retryOnAssetOrOpFailure"],
    } == instance["run_retries"]
    assert chart["postgresql"]["postgresqlScheme"] == instance["storage"]["postgres"]["postgres_db"]["scheme"]
    assert chart["postgresql"]["service"]["port"] == instance["storage"]["postgres"]["postgres_db"]["port"]
    monitoring = chart["dagsterDaemon"]["runMonitoring"]
    assert (monitoring["startTimeoutSeconds"], monitoring["pollIntervalSeconds"]) == (
        instance["run_monitoring"]["start_timeout_seconds"],
        instance["run_monitoring"]["poll_interval_seconds"],
    )

    # The chart writes customRunLauncher's config verbatim: the same launcher with or without the chart.
    assert chart["runLauncher"]["type"] == "CustomRunLauncher"
    custom = chart["runLauncher"]["config"]["customRunLauncher"]
    assert (custom["module"], custom["class"]) == (
        instance["run_launcher"]["module"],
        instance["run_launcher"]["class"],
    )
    launcher = instance["run_launcher"]["config"]
    assert custom["config"] == launcher
    deployment = code_deployment(chart)
    # The code server has the run pods' writable places; it reads the landing zone, never writes it.
    assert deployment["volumes"] == launcher["volumes"]
    assert [(m["name"], m["mountPath"]) for m in deployment["volumeMounts"]] == [
        (m["name"], m["mount_path"]) for m in launcher["volume_mounts"]
    ]
    assert deployment["resources"] == launcher["resources"]
    assert deployment["securityContext"] == launcher["security_context"]


def _kind_tags() -> dict[str, dict]:
    return read_yaml(REPO_ROOT / "mlops_assets" / "run_pod_resources.yaml")["kinds"]


def _container_resources(tags: dict) -> dict:
    # Through a real job definition: Dagster serializes the tag, dagster-k8s parses and validates it.
    @dg.op
    def noop():
        pass

    @dg.job(tags=tags)
    def job():
        noop()

    return get_user_defined_k8s_config(job.tags).container_config["resources"]


def test_run_pod_resources_are_valid_dagster_k8s_tags_sized_per_kind():
    resources = {kind: _container_resources(tags) for kind, tags in _kind_tags().items()}
    assert set(resources) == {"default", "scoring", "training"}
    for kind, requirements in resources.items():
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": kind},
            "spec": {"containers": [{"name": "run", "image": "mlops-assets", "resources": requirements}]},
        }
        kubernetes_validate.validate(pod, K8S_VERSION, strict=True)

    def gibibytes(quantity: str) -> int:
        assert quantity.endswith("Gi"), quantity
        return int(quantity[:-2])

    memory = {kind: gibibytes(r["limits"]["memory"]) for kind, r in resources.items()}
    assert memory["training"] > memory["scoring"] > memory["default"]
    # Untagged runs inherit the code server's resources: `default` documents exactly those.
    assert resources["default"] == code_deployment(values())["resources"]


def test_compute_log_addresses_reach_every_pod_that_loads_the_instance_and_its_keys_only_two():
    chart, launcher = values(), launcher_config()
    addresses = {
        "DAGSTER_COMPUTE_LOGS_BUCKET",
        "DAGSTER_COMPUTE_LOGS_PREFIX",
        "DAGSTER_COMPUTE_LOGS_ENDPOINT",
    }
    assert addresses <= set(services())
    config_maps = {
        "webserver": [c["name"] for c in chart["dagsterWebserver"]["envConfigMaps"]],
        "daemon": [c["name"] for c in chart["dagsterDaemon"]["envConfigMaps"]],
        "code server": [c["name"] for c in code_deployment(chart)["envConfigMaps"]],
        "run": launcher["env_config_maps"],
    }
    assert all("mlops-services" in names for names in config_maps.values()), config_maps
    # The keys: run pods write the logs, the webserver reads them back; nobody else holds them.
    assert set(secrets()["mlops-compute-logs"]["stringData"]) == {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    }
    assert [s["name"] for s in chart["dagsterWebserver"]["envSecrets"]] == ["mlops-compute-logs"]
    assert "mlops-compute-logs" in launcher["env_secrets"]
    assert "envSecrets" not in chart["dagsterDaemon"]
    assert "mlops-compute-logs" not in [s["name"] for s in code_deployment(chart)["envSecrets"]]


def test_every_pool_the_code_assigns_is_limited_by_the_instance_and_no_run_tag_is():
    from mlops_assets.definitions import build_definitions

    defs = build_definitions(load_settings({"MLOPS_HOME": "/nonexistent/mlops"}))
    graph = defs.resolve_asset_graph()
    pools = {pool for node in graph.asset_nodes if node.is_materializable for pool in node.pools}
    assert pools == {"training", "duckdb_warehouse"}
    models = [key for key in graph.materializable_asset_keys if key.path[0] == "models"]
    assert models and all(graph.get(key).pools == {"training"} for key in models)
    concurrency = prod_instance()["concurrency"]
    # No pool has a limit of its own in the instance: the default holds each to one step at a time.
    assert concurrency["pools"] == {"default_limit": 1, "granularity": "op"}
    assert "tag_concurrency_limits" not in concurrency["runs"]
    assert "tag_concurrency_limits" not in str(values()) and "tagConcurrencyLimits" not in str(values())
