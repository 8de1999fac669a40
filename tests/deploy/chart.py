"""What the official dagster/dagster Helm chart (1.13.x) makes of deploy/helm/values.yaml, without Helm.

Helm and the chart cannot be fetched here, so the chart is not rendered. Instead:
- ``CHART_KEYS`` lists the value keys the chart defines for the parts we set, transcribed from the
  chart's values schema (helm/dagster/schema/schema/charts/**, pydantic models behind
  values.schema.json), so a misspelt or unknown key fails a test as `helm install` would;
- ``render_code_deployment`` builds the code server's Deployment the way the chart's template
  charts/dagster-user-deployments/templates/deployment-user.yaml does for the fields we use,
  so the result can be validated against Kubernetes' schemas and checked by checkov;
- ``post_render`` applies deploy/helm/post-renderer/kustomization.yaml's patches to rendered objects
  as kustomize does (tests/deploy also runs the real post-renderer with kubectl and compares).

The template writes ``automountServiceAccountToken: true`` into the pod spec, a literal, not a value
(since dagster-io/dagster#19217, 1.6: the charts' own ServiceAccounts stopped automounting, so every
pod template asks for its token), and the pod's field overrides the ServiceAccount's ``false``.

``rbacEnabled`` (top level and the user-deployments subchart) is not in the pydantic schema (the
top-level model allows extra keys) but in the charts' values.yaml: the templates role.yaml and
rolebinding.yaml of both charts render only `{{- if .Values.rbacEnabled }}`.
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

POST_RENDERER = Path(__file__).resolve().parents[2] / "deploy" / "helm" / "post-renderer"

# fmt: off
CHART_KEYS: dict[str, set[str]] = {
    "": {
        "global", "generatePostgresqlPasswordSecret", "postgresql", "telemetry", "computeLogManager",
        "additionalInstanceConfig", "runLauncher", "dagsterDaemon", "dagsterWebserver",
        "dagster-user-deployments", "imagePullSecrets", "serviceAccount", "retention", "concurrency",
        "pythonLogs", "scheduler", "ingress", "migrate", "busybox", "rabbitmq", "redis", "flower",
        "generateCeleryConfigSecret", "rbacEnabled",
    },
    "serviceAccount": {"create", "name", "annotations"},
    "global": {
        "postgresqlSecretName", "dagsterHome", "serviceAccountName", "celeryConfigSecretName",
        "dagsterInstanceConfigMap",
    },
    "postgresql": {
        "postgresqlScheme", "image", "enabled", "postgresqlHost", "postgresqlUsername", "postgresqlPassword",
        "postgresqlDatabase", "postgresqlParams", "service",
    },
    "telemetry": {"enabled"},
    "computeLogManager": {"type", "config"},
    "computeLogManager.config": {
        "azureBlobComputeLogManager", "gcsComputeLogManager", "s3ComputeLogManager", "customComputeLogManager",
    },
    "computeLogManager.config.s3ComputeLogManager": {
        "localDir", "prefix", "useSsl", "verify", "verifyCertPath", "endpointUrl", "skipEmptyFiles",
        "uploadInterval", "uploadExtraArgs", "showUrlOnly", "region", "bucket",
    },
    "concurrency": {"enabled", "pools", "runs"},
    "concurrency.pools": {"defaultLimit", "granularity", "opGranularityRunBuffer"},
    "concurrency.runs": {"maxConcurrentRuns", "tagConcurrencyLimits"},
    "dagsterDaemon.runRetries": {"enabled", "maxRetries", "retryOnAssetOrOpFailure"},
    "runLauncher": {"type", "config"},
    "runLauncher.config": {"celeryK8sRunLauncher", "k8sRunLauncher", "customRunLauncher"},
    # ConfigurableClass: written verbatim as the instance's run_launcher.
    "runLauncher.config.customRunLauncher": {"module", "class", "config"},
    "runLauncher.config.k8sRunLauncher": {
        "image", "imagePullPolicy", "jobNamespace", "loadInclusterConfig", "kubeconfigFile",
        "envConfigMaps", "envSecrets", "envVars", "volumeMounts", "volumes", "labels", "failPodOnRunFailure",
        "resources", "schedulerName", "securityContext", "runK8sConfig",
    },
    "dagsterDaemon": {
        "schedulerName", "volumeMounts", "volumes", "enabled", "image", "runCoordinator",
        "heartbeatTolerance", "env", "envConfigMaps", "envSecrets", "deploymentLabels", "labels",
        "nodeSelector", "affinity", "tolerations", "podSecurityContext", "securityContext", "resources",
        "livenessProbe", "readinessProbe", "startupProbe", "annotations", "runMonitoring", "runRetries",
        "sensors", "schedules",
    },
    "dagsterDaemon.runCoordinator": {"enabled", "type", "config"},
    "dagsterDaemon.runCoordinator.config": {"queuedRunCoordinator", "customRunCoordinator"},
    "dagsterDaemon.runCoordinator.config.queuedRunCoordinator": {
        "maxConcurrentRuns", "tagConcurrencyLimits", "dequeueIntervalSeconds", "dequeueNumWorkers",
        "dequeueUseThreads",
    },
    "dagsterDaemon.runMonitoring": {
        "enabled", "startTimeoutSeconds", "maxResumeRunAttempts", "pollIntervalSeconds",
        "freeSlotsAfterRunEndSeconds",
    },
    "dagsterWebserver": {
        "replicaCount", "image", "nameOverride", "pathPrefix", "service", "workspace", "env", "envConfigMaps",
        "envSecrets", "deploymentLabels", "labels", "nodeSelector", "affinity", "tolerations",
        "podSecurityContext", "securityContext", "resources", "readinessProbe", "livenessProbe",
        "startupProbe", "annotations", "enableReadOnly", "dbStatementTimeout", "dbPoolRecycle",
        "logLevel", "schedulerName", "volumeMounts", "volumes", "initContainerResources",
        "extraContainers", "extraPrependedInitContainers", "checkDbReadyInitContainer",
    },
    "dagster-user-deployments": {
        "enabled", "enableSubchart", "imagePullSecrets", "deployments", "serviceAccount", "rbacEnabled",
    },
    "dagsterWebserver.service": {"type", "port", "annotations"},
    "dagster-user-deployments.serviceAccount": {"create", "name", "annotations"},
    "dagster-user-deployments.deployments[]": {
        "name", "image", "dagsterApiGrpcArgs", "codeServerArgs", "includeConfigInLaunchedRuns",
        "deploymentNamespace", "port", "replicaCount", "env", "envConfigMaps", "envSecrets", "annotations",
        "nodeSelector", "affinity", "tolerations", "podSecurityContext", "securityContext", "resources",
        "livenessProbe", "readinessProbe", "startupProbe", "labels", "volumeMounts", "volumes",
        "schedulerName", "initContainers", "sidecarContainers", "deploymentStrategy",
    },
    "dagster-user-deployments.deployments[].image": {"repository", "tag", "pullPolicy"},
}
# fmt: on


def unknown_keys(values: dict) -> list[str]:
    """Paths of keys in ``values`` that the chart does not define, for the sections in CHART_KEYS."""
    unknown = []

    def visit(node: object, path: str) -> None:
        allowed = CHART_KEYS.get(path)
        if isinstance(node, list) and f"{path}[]" in CHART_KEYS:
            for item in node:
                visit(item, f"{path}[]")
        elif isinstance(node, dict) and allowed is not None:
            for key, child in node.items():
                child_path = f"{path}.{key}" if path else key
                if key not in allowed:
                    unknown.append(child_path)
                else:
                    visit(child, child_path)

    visit(values, "")
    return unknown


def _chart_probe(probe: dict, port: int) -> dict:
    # The chart drops `enabled` and, without an `exec`, probes with the gRPC health check.
    fields = {key: value for key, value in probe.items() if key != "enabled"}
    return {"exec": {"command": ["dagster", "api", "grpc-health-check", "-p", str(port)]}, **fields}


def render_code_deployment(values: dict, release: str = "dagster", namespace: str = "dagster") -> dict:
    """The Deployment the chart renders for the single user code deployment of ``values``."""
    user_code = values["dagster-user-deployments"]
    (deployment,) = user_code["deployments"]
    image = f"{deployment['image']['repository']}:{deployment['image']['tag']}"
    selector = {
        "app.kubernetes.io/name": "dagster-user-deployments",
        "app.kubernetes.io/instance": release,
        "component": "user-deployments",
        "deployment": deployment["name"],
    }
    labels = {**selector, **deployment.get("labels", {})}
    port = deployment["port"]
    container = {
        "name": "dagster-user-deployments",
        "image": image,
        "imagePullPolicy": deployment["image"]["pullPolicy"],
        "args": [
            "dagster",
            "api",
            "grpc",
            "-h",
            "0.0.0.0",
            "-p",
            str(port),
            *deployment["dagsterApiGrpcArgs"],
        ],
        "securityContext": deployment["securityContext"],
        "env": [
            {"name": "DAGSTER_CURRENT_IMAGE", "value": image},
            {
                "name": "DAGSTER_PG_PASSWORD",
                "valueFrom": {
                    "secretKeyRef": {
                        "name": values["global"]["postgresqlSecretName"],
                        "key": "postgresql-password",
                    }
                },
            },
            # The chart serializes the container context here (inherited by run pods), if asked to.
            *(
                [{"name": "DAGSTER_CLI_API_GRPC_CONTAINER_CONTEXT", "value": "{}"}]
                if deployment.get("includeConfigInLaunchedRuns", {"enabled": True})["enabled"]
                else []
            ),
            *deployment.get("env", []),
        ],
        "envFrom": [
            {"configMapRef": {"name": f"{release}-dagster-user-deployments-user-deployments-shared-env"}},
            {"configMapRef": {"name": f"{release}-dagster-user-deployments-{deployment['name']}-user-env"}},
            *({"configMapRef": config_map} for config_map in deployment.get("envConfigMaps", [])),
            *({"secretRef": secret} for secret in deployment.get("envSecrets", [])),
        ],
        "resources": deployment["resources"],
        "readinessProbe": _chart_probe(deployment["readinessProbe"], port),
        "livenessProbe": _chart_probe(deployment["livenessProbe"], port),
        "startupProbe": _chart_probe(deployment["startupProbe"], port),
        "volumeMounts": deployment.get("volumeMounts", []),
    }
    annotations = deployment.get("annotations", {})
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": f"{release}-dagster-user-deployments-{deployment['name']}",
            "namespace": namespace,
            "labels": labels,
            "annotations": annotations,
        },
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": labels, "annotations": annotations},
                "spec": {
                    "serviceAccountName": user_code["serviceAccount"]["name"],
                    # A literal in the template: `automountServiceAccountToken: true`.
                    "automountServiceAccountToken": True,
                    "securityContext": deployment["podSecurityContext"],
                    "containers": [container],
                    "volumes": deployment.get("volumes", []),
                },
            },
        },
    }


def _targeted(target: dict, doc: dict) -> bool:
    group, _, version = doc["apiVersion"].rpartition("/")
    wanted = {"group": group, "version": version, "kind": doc["kind"], "name": doc["metadata"]["name"]}
    if any(target[key] != value for key, value in wanted.items() if key in target):
        return False
    labels = doc["metadata"].get("labels", {})
    pairs = (term.split("=", 1) for term in target.get("labelSelector", "").split(",") if term)
    return all(labels.get(key) == value for key, value in pairs)


def post_render(documents: list[dict]) -> list[dict]:
    """``documents`` after deploy/helm/post-render.sh: the kustomization's JSON patches applied to the
    objects their targets select (only ``add`` of an object member, the one kind of op it ships)."""
    kustomization = yaml.safe_load((POST_RENDERER / "kustomization.yaml").read_text())
    assert set(kustomization) <= {"apiVersion", "kind", "resources", "patches"}, kustomization
    rendered = copy.deepcopy(documents)
    for patch in kustomization["patches"]:
        for doc in (doc for doc in rendered if _targeted(patch["target"], doc)):
            for operation in yaml.safe_load(patch["patch"]):
                assert operation["op"] == "add", operation
                *parents, field = operation["path"].strip("/").split("/")
                node = doc
                for key in parents:
                    node = node[key]
                node[field] = operation["value"]
    return rendered
