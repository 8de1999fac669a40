"""Least privilege on Kubernetes (issue 31): who runs as which ServiceAccount with which rights, which
pod holds which Secret, what a run tag may change in a pod, where each pod may send traffic, the
namespace's Pod Security Standard, and the proxy in front of the webserver.

Each test reads the manifests and values as they ship; each would fail against the deployment
before the issue (one account for every role, every Secret in every pod, no allow-list, no egress
policy, no Pod Security label, an unauthenticated webserver)."""

from __future__ import annotations

import ipaddress
import json
import shutil
import subprocess

import dagster as dg
import pytest
import yaml
from dagster_k8s import K8sRunLauncher
from dagster_k8s.job import construct_dagster_k8s_job
from kubernetes.client import ApiClient

from mlops_assets.platform.executor import STEP_SERVICE_ACCOUNT, executor_for, k8s_step_executor
from mlops_assets.settings import CREDENTIAL_VARIABLES, load_settings

from .chart import post_render, render_code_deployment
from .conftest import DEPLOY, REPO_ROOT, code_deployment, read_yaml, read_yaml_documents, write_kubeconfig
from .test_manifests import (
    ACL_SERVER,
    LAKEFS_NAMESPACE,
    SECRETS_TEMPLATE,
    _code_server_environment,
    by_kind,
    launcher_config,
    named,
    secrets,
    selects,
    values,
)

NAMESPACE = "dagster"
METADATA_SERVICE = ipaddress.ip_address("169.254.169.254")
# Pod labels of each role: the chart's (webserver, daemon, code server), dagster-k8s's (run and step
# Jobs' pods) and the oauth2-proxy chart's.
CHART = {"app.kubernetes.io/name": "dagster", "app.kubernetes.io/instance": "dagster"}
POD_LABELS = {
    "webserver": {**CHART, "component": "dagster-webserver"},
    "daemon": {**CHART, "component": "dagster-daemon"},
    "code server": {
        "app.kubernetes.io/name": "dagster-user-deployments",
        "app.kubernetes.io/instance": "dagster",
        "component": "user-deployments",
        "deployment": "mlops-assets",
    },
    "run": {"app.kubernetes.io/component": "run_worker", "app.kubernetes.io/part-of": "dagster"},
    "step": {"app.kubernetes.io/component": "step_worker", "app.kubernetes.io/part-of": "dagster"},
    "proxy": {"app.kubernetes.io/name": "oauth2-proxy"},
}
# Destinations: (namespace labels, pod labels or None for an address outside the cluster, address, port).
DESTINATIONS = {
    "dns": ({"kubernetes.io/metadata.name": "kube-system"}, {"k8s-app": "kube-dns"}, "10.96.0.10", 53),
    "postgres": (None, None, "10.10.0.5", 5432),
    "lakefs": (
        {"kubernetes.io/metadata.name": "lakefs"},
        {"app.kubernetes.io/name": "lakefs"},
        "10.1.2.3",
        8000,
    ),
    "mlflow": (
        {"kubernetes.io/metadata.name": "mlflow"},
        {"app.kubernetes.io/name": "mlflow"},
        "10.1.2.4",
        5000,
    ),
    "kubernetes api": (None, None, "172.20.0.2", 443),
    "object store": (None, None, "10.20.0.7", 443),
    "code server": ({"kubernetes.io/metadata.name": NAMESPACE}, POD_LABELS["code server"], "10.1.2.5", 4000),
    "webserver": ({"kubernetes.io/metadata.name": NAMESPACE}, POD_LABELS["webserver"], "10.1.2.6", 3000),
    "metadata service": (None, None, str(METADATA_SERVICE), 80),
    "identity provider": (None, None, "203.0.113.10", 443),
}
# Who may reach what; everything else is refused.
ALLOWED = {
    "webserver": {"dns", "postgres", "kubernetes api", "code server", "object store"},
    "daemon": {"dns", "postgres", "kubernetes api", "code server"},
    "code server": {"dns", "postgres", "lakefs"},
    "run": {"dns", "postgres", "lakefs", "mlflow", "kubernetes api", "object store"},
    "step": {"dns", "postgres", "lakefs", "mlflow", "object store"},
    "proxy": {"dns", "webserver", "identity provider"},
}
JOB_LAUNCHER_RULES = {
    ("batch", "jobs"): {"create", "get", "list", "watch", "delete"},
    ("batch", "jobs/status"): {"get"},
    ("", "pods"): {"get", "list", "watch"},
    ("", "pods/log"): {"get"},
}


def in_namespace(kind: str) -> list[dict]:
    """The objects of ``kind`` in namespace dagster (lakeFS's ACL server has its own, lakefs)."""
    return [doc for doc in by_kind(kind) if doc["metadata"]["namespace"] == NAMESPACE]


def service_accounts() -> dict[str, dict]:
    return {sa["metadata"]["name"]: sa for sa in in_namespace("ServiceAccount")}


def role_accounts() -> dict[str, str]:
    """The ServiceAccount of each role, as the values, the launcher and the executor name them."""
    return {
        "code server": values()["dagster-user-deployments"]["serviceAccount"]["name"],
        "webserver and daemon": values()["serviceAccount"]["name"],
        "run": launcher_config()["service_account_name"],
        "step": STEP_SERVICE_ACCOUNT,
    }


def bound_rules(account: str) -> dict[tuple[str, str], set[str]]:
    """What ``account`` may do, through the RoleBindings of the manifests."""
    roles = {role["metadata"]["name"]: role for role in by_kind("Role")}
    granted: dict[tuple[str, str], set[str]] = {}
    for binding in by_kind("RoleBinding"):
        if any(s["kind"] == "ServiceAccount" and s["name"] == account for s in binding["subjects"]):
            assert binding["roleRef"]["kind"] == "Role", "nothing cluster-wide"
            for rule in roles[binding["roleRef"]["name"]]["rules"]:
                for group in rule["apiGroups"]:
                    for resource in rule["resources"]:
                        granted.setdefault((group, resource), set()).update(rule["verbs"])
    return granted


def test_each_role_has_its_own_service_account_with_the_least_rbac():
    accounts = role_accounts()
    assert len(set(accounts.values())) == len(accounts), accounts
    assert set(accounts.values()) == set(service_accounts())
    # The charts' own Roles (Job and pod create/delete for user code, pods and events for Dagster)
    # are not rendered: ours are the only grants.
    assert values()["rbacEnabled"] is False
    assert values()["dagster-user-deployments"]["rbacEnabled"] is False
    assert values()["serviceAccount"]["create"] is False
    assert values()["dagster-user-deployments"]["serviceAccount"]["create"] is False
    # No Job rights and no token where the Kubernetes API is not needed.
    for role in ("code server", "step"):
        assert bound_rules(accounts[role]) == {}, role
        assert service_accounts()[accounts[role]]["automountServiceAccountToken"] is False, role
    # dagster-k8s's launcher and executor: Jobs, their pods and logs, in the namespace; no more.
    for role in ("webserver and daemon", "run"):
        assert bound_rules(accounts[role]) == JOB_LAUNCHER_RULES, role
    for role in by_kind("Role"):
        assert role["metadata"]["namespace"] == NAMESPACE
        for rule in role["rules"]:
            assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"]
    assert by_kind("ClusterRole") == [] and by_kind("ClusterRoleBinding") == []


def _daemon_deployment() -> dict:
    # The chart's daemon Deployment, as far as the post-renderer's target is concerned.
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "dagster-daemon", "labels": {**CHART, "component": "dagster-daemon"}},
        "spec": {
            "selector": {"matchLabels": {**CHART, "component": "dagster-daemon"}},
            "template": {
                "metadata": {"labels": {**CHART, "component": "dagster-daemon"}},
                "spec": {
                    "serviceAccountName": values()["serviceAccount"]["name"],
                    "automountServiceAccountToken": True,
                    "containers": [{"name": "dagster", "image": "dagster"}],
                },
            },
        },
    }


def test_the_code_server_pod_mounts_no_token_once_post_rendered():
    chart = render_code_deployment(values())
    # The chart asks for the token in the pod spec, which overrides the account's `false`...
    assert chart["spec"]["template"]["spec"]["automountServiceAccountToken"] is True
    # ...and the post-renderer takes it away from the code server only: the daemon launches runs.
    code_server, daemon = post_render([chart, _daemon_deployment()])
    assert code_server["spec"]["template"]["spec"]["automountServiceAccountToken"] is False
    assert daemon == _daemon_deployment()
    assert {
        key: value
        for key, value in code_server["spec"]["template"]["spec"].items()
        if key != "automountServiceAccountToken"
    } == {
        key: value
        for key, value in chart["spec"]["template"]["spec"].items()
        if key != "automountServiceAccountToken"
    }


def test_the_post_renderer_script_does_what_the_tests_assume():
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl (with its built-in kustomize) is not installed: the script is not run")
    documents = [render_code_deployment(values()), _daemon_deployment()]
    done = subprocess.run(
        ["bash", str(DEPLOY / "helm" / "post-render.sh")],
        input=yaml.safe_dump_all(documents),
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    rendered = [doc for doc in yaml.safe_load_all(done.stdout) if doc]
    by_name = {doc["metadata"]["name"]: doc for doc in rendered}
    assert [by_name[doc["metadata"]["name"]] for doc in documents] == post_render(documents)


def test_step_pods_run_as_their_account_whatever_the_run_config_says():
    executor = k8s_step_executor()
    # A run's config cannot pick the step pods' account, or a raw pod spec: the executor is configured in code.
    asked = {
        "service_account_name": "mlops-runs",
        "step_k8s_config": {"pod_spec_config": {"host_network": True}},
    }
    for run_config in ({}, asked):
        resolved = executor.config_schema.resolve_config(run_config)
        assert resolved.success
        config = resolved.value["config"]
        assert config["service_account_name"] == STEP_SERVICE_ACCOUNT
        assert "step_k8s_config" not in config
    # And the code location uses it in production.
    production = load_settings(_code_server_environment())
    assert executor_for(production).config_schema.resolve_config(asked).value == resolved.value


def test_each_pod_holds_only_the_secrets_it_reads():
    deployment = code_deployment(values())
    code_server_secrets = {s["name"] for s in deployment.get("envSecrets", [])}
    run_secrets = set(launcher_config()["env_secrets"])
    # The code server reads lakeFS in its sensors (a read-only key): no writer key, no MLflow token,
    # no warehouse password.
    assert code_server_secrets == {"mlops-lakefs-reader"}
    assert not code_server_secrets & run_secrets
    held = {key for name in code_server_secrets for key in secrets()[name]["stringData"]}
    assert held == {"LAKEFS_ACCESS_KEY_ID", "LAKEFS_SECRET_ACCESS_KEY"}
    # Run pods do not inherit the code server's Secrets, account or token setting.
    assert deployment["includeConfigInLaunchedRuns"] == {"enabled": False}
    rendered = render_code_deployment(values())
    (container,) = rendered["spec"]["template"]["spec"]["containers"]
    assert "DAGSTER_CLI_API_GRPC_CONTAINER_CONTEXT" not in {e["name"] for e in container["env"]}
    # The proxy's Secret is the proxy's alone.
    assert "mlops-oauth2-proxy" not in code_server_secrets | run_secrets


def test_the_code_server_loads_its_settings_without_the_writer_credentials():
    environ = _code_server_environment()
    assert environ["MLOPS_ROLE"] == "code-server"
    assert not {"MLFLOW_TRACKING_TOKEN", "MLOPS_WAREHOUSE_PG_PASSWORD"} & set(environ)
    settings = load_settings(environ)
    assert (settings.env, settings.role, settings.store_backend) == ("prod", "code-server", "lakefs")
    # Without the role, the same environment is refused: a run pod must hold every credential.
    with pytest.raises(Exception, match="MLOPS_WAREHOUSE_PG_PASSWORD"):
        load_settings({**environ, "MLOPS_ROLE": "run"})
    bare = {k: v for k, v in environ.items() if k not in CREDENTIAL_VARIABLES}
    assert load_settings(bare).lakefs is not None


def _launcher(tmp_path, **overrides) -> K8sRunLauncher:
    """The launcher the Helm values configure (deploy/dagster.yaml's is the same, test_manifests)."""
    config = values()["runLauncher"]["config"]["customRunLauncher"]["config"]
    # Outside a cluster the launcher reads a kubeconfig instead; nothing contacts its server.
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig")
    return K8sRunLauncher(
        **{**config, "load_incluster_config": False, "kubeconfig_file": str(kubeconfig), **overrides}
    )


def _run_with(tags: dict) -> dg.DagsterRun:
    # As a launched run carries them: every tag a string (the k8s config as JSON).
    serialized = {key: value if isinstance(value, str) else json.dumps(value) for key, value in tags.items()}
    return dg.DagsterRun(job_name="job", run_id="0" * 36, tags=serialized)


# A Secret the run pods do not hold (the proxy's OIDC client secret), under the one name the
# allow-list once admitted.
SECRET_VARIABLE = {
    "name": "OMP_NUM_THREADS",
    "value_from": {"secret_key_ref": {"name": "mlops-oauth2-proxy", "key": "client-secret"}},
}
# The run pod's OpenMP threads, from its own CPU limit (the launcher's run_k8s_config).
THREADS_FROM_CPU_LIMIT = {
    "name": "OMP_NUM_THREADS",
    "value_from": {"resource_field_ref": {"resource": "limits.cpu", "divisor": "1"}},
}
ESCALATIONS = {
    "privileged": {"container_config": {"security_context": {"privileged": True}}},
    "hostPath": {
        "pod_spec_config": {"volumes": [{"name": "host", "host_path": {"path": "/"}}]},
        "container_config": {"volume_mounts": [{"name": "host", "mount_path": "/host"}]},
    },
    "another ServiceAccount": {"pod_spec_config": {"service_account_name": "mlops-launcher"}},
    "host network": {"pod_spec_config": {"host_network": True}},
    "a token": {"pod_spec_config": {"automount_service_account_token": True}},
    "another image's command": {"container_config": {"command": ["sh", "-c", "id"]}},
    "a Secret's variables": {
        "container_config": {"env_from": [{"secret_ref": {"name": "mlops-oauth2-proxy"}}]}
    },
    "a variable from a Secret": {"container_config": {"env": [SECRET_VARIABLE]}},
    "a variable": {"container_config": {"env": [{"name": "OMP_NUM_THREADS", "value": "64"}]}},
}


@pytest.mark.parametrize("escalation", sorted(ESCALATIONS))
def test_a_run_tag_cannot_rewrite_the_pod_spec(tmp_path, escalation):
    launcher = _launcher(tmp_path)
    tag = {"dagster-k8s/config": ESCALATIONS[escalation]}
    with pytest.raises(Exception, match="violated the allowed list"):
        launcher.get_container_context_for_run(_run_with(tag))


def _run_pod(launcher: K8sRunLauncher, tags: dict) -> dict:
    """The run pod's container as the launcher builds its Job (dagster-k8s's own construction)."""
    context = launcher.get_container_context_for_run(_run_with(tags))
    job = construct_dagster_k8s_job(
        context.get_k8s_job_config(job_image="mlops-assets", run_launcher=launcher),
        args=["dagster", "api", "execute_run"],
        job_name="dagster-run-0",
        user_defined_k8s_config=context.run_k8s_config,
        component="run_worker",
    )
    (container,) = ApiClient().sanitize_for_serialization(job)["spec"]["template"]["spec"]["containers"]
    return container


def test_a_run_tag_may_size_the_pod_and_the_threads_follow_its_cpu_limit(tmp_path):
    launcher = _launcher(tmp_path)
    kinds = read_yaml(REPO_ROOT / "mlops_assets" / "run_pod_resources.yaml")["kinds"]
    for kind, tags in kinds.items():
        context = launcher.get_container_context_for_run(_run_with(tags))
        container = context.run_k8s_config.container_config
        assert container["resources"] == tags["dagster-k8s/config"]["container_config"]["resources"], kind
        # Not from the tag (which may not set env): Kubernetes reads the pod's own CPU limit.
        assert [e for e in container["env"] if e["name"] == "OMP_NUM_THREADS"] == [THREADS_FROM_CPU_LIMIT]
        pod_spec = context.run_k8s_config.pod_spec_config
        assert pod_spec["service_account_name"] == launcher_config()["service_account_name"], kind
        built = _run_pod(launcher, tags)
        assert built["resources"] == tags["dagster-k8s/config"]["container_config"]["resources"], kind
        threads = [e for e in built["env"] if e["name"] == "OMP_NUM_THREADS"]
        assert threads == [
            {
                "name": "OMP_NUM_THREADS",
                "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1"}},
            }
        ], kind


def test_a_run_tag_cannot_give_a_variable_a_value_from_a_secret(tmp_path):
    tag = {"dagster-k8s/config": {"container_config": {"env": [SECRET_VARIABLE]}}}
    # Why env is not allowed at all: dagster-k8s checks a tag's variables by name only, so with
    # `env` allowed and the name on the list, the Secret's value reached the run pod.
    by_name_only = _launcher(
        tmp_path,
        only_allow_user_defined_k8s_config_fields={"container_config": {"resources": True, "env": True}},
        only_allow_user_defined_env_vars=["OMP_NUM_THREADS"],
    )
    assert _run_pod(by_name_only, tag)["env"][-1] == {
        "name": "OMP_NUM_THREADS",
        "valueFrom": {"secretKeyRef": {"name": "mlops-oauth2-proxy", "key": "client-secret"}},
    }
    # Ours refuses it, and a plain value too; the sizing tag of a kind is accepted.
    launcher = _launcher(tmp_path)
    with pytest.raises(Exception, match=r"violated the allowed list: container_config\.env"):
        launcher.get_container_context_for_run(_run_with(tag))
    plain = {"dagster-k8s/config": {"container_config": {"env": [{"name": "OMP_NUM_THREADS", "value": "2"}]}}}
    with pytest.raises(Exception, match=r"violated the allowed list: container_config\.env"):
        launcher.get_container_context_for_run(_run_with(plain))
    sizing = read_yaml(REPO_ROOT / "mlops_assets" / "run_pod_resources.yaml")["kinds"]["training"]
    container = _run_pod(launcher, sizing)
    # Its only variable from a Secret is the launcher's own: the Postgres password.
    from_secrets = {
        e["name"]: e["valueFrom"]["secretKeyRef"]["name"]
        for e in container["env"]
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    assert from_secrets == {"DAGSTER_PG_PASSWORD": launcher_config()["postgres_password_secret"]}
    assert {s["secretRef"]["name"] for s in container["envFrom"] if "secretRef" in s} == set(
        launcher_config()["env_secrets"]
    )


def _policies() -> list[dict]:
    return in_namespace("NetworkPolicy")


def _egress_policies_of(labels: dict) -> list[dict]:
    return [
        p
        for p in _policies()
        if "Egress" in p["spec"]["policyTypes"] and selects(p["spec"]["podSelector"], labels)
    ]


def _peer_admits(peer: dict, destination: tuple) -> bool:
    namespace_labels, pod_labels, address, _ = destination
    if "ipBlock" in peer:
        block = peer["ipBlock"]
        ip = ipaddress.ip_address(address)
        return ip in ipaddress.ip_network(block["cidr"]) and not any(
            ip in ipaddress.ip_network(excluded) for excluded in block.get("except", [])
        )
    if pod_labels is None:
        return False
    if "namespaceSelector" in peer:
        if not selects(peer["namespaceSelector"], namespace_labels):
            return False
    elif namespace_labels != {"kubernetes.io/metadata.name": NAMESPACE}:
        return False
    return selects(peer.get("podSelector", {}), pod_labels)


def reaches(source: str, destination: str) -> bool:
    """NetworkPolicy semantics for one connection: a pod that some policy selects for Egress may open
    only what one of those policies' rules admits (peer and port)."""
    target = DESTINATIONS[destination]
    policies = _egress_policies_of(POD_LABELS[source])
    if not policies:
        return True  # no egress policy selects the pod: everything is open
    for policy in policies:
        for rule in policy["spec"].get("egress", []):
            ports = {p["port"] for p in rule.get("ports", [])}
            if ports and target[3] not in ports:
                continue
            if "to" not in rule or any(_peer_admits(peer, target) for peer in rule["to"]):
                return True
    return False


def test_egress_is_denied_by_default_for_every_pod():
    (deny,) = [p for p in _policies() if p["spec"]["podSelector"] == {} and not p["spec"].get("egress")]
    assert deny["spec"]["policyTypes"] == ["Egress"]
    # Every exception names where it goes: no rule without peers or ports (that would open everything).
    for policy in _policies():
        for rule in policy["spec"].get("egress", []):
            assert rule.get("to") and rule.get("ports"), policy["metadata"]["name"]


@pytest.mark.parametrize("source", sorted(ALLOWED))
def test_each_pod_reaches_only_its_named_destinations(source):
    reachable = {destination for destination in DESTINATIONS if reaches(source, destination)}
    assert reachable == ALLOWED[source]


def test_no_pod_can_reach_the_cloud_metadata_service():
    for source in POD_LABELS:
        assert not reaches(source, "metadata service"), source
    for policy in _policies():
        for rule in policy["spec"].get("egress", []):
            for peer in rule["to"]:
                if "ipBlock" in peer:
                    block = peer["ipBlock"]
                    inside = METADATA_SERVICE in ipaddress.ip_network(block["cidr"])
                    excluded = any(
                        METADATA_SERVICE in ipaddress.ip_network(e) for e in block.get("except", [])
                    )
                    assert not inside or excluded, policy["metadata"]["name"]


def _restricted_violations(pod_context: dict, container_context: dict, volumes: list[dict]) -> list[str]:
    """The `restricted` Pod Security Standard's checks on one pod with one container."""
    problems = []
    merged = {**pod_context, **container_context}
    if merged.get("runAsNonRoot") is not True:
        problems.append("runAsNonRoot")
    if merged.get("runAsUser") == 0:
        problems.append("runAsUser 0")
    if container_context.get("allowPrivilegeEscalation") is not False:
        problems.append("allowPrivilegeEscalation")
    if container_context.get("privileged"):
        problems.append("privileged")
    capabilities = container_context.get("capabilities", {})
    if "ALL" not in capabilities.get("drop", []):
        problems.append("capabilities.drop ALL")
    if set(capabilities.get("add", [])) - {"NET_BIND_SERVICE"}:
        problems.append("capabilities.add")
    if merged.get("seccompProfile", {}).get("type") not in ("RuntimeDefault", "Localhost"):
        problems.append("seccompProfile")
    allowed_volumes = {"emptyDir", "persistentVolumeClaim", "configMap", "secret", "projected", "ephemeral"}
    for volume in volumes:
        if set(volume) - {"name"} - allowed_volumes:
            problems.append(f"volume {volume['name']}")
    return problems


def test_the_namespace_enforces_the_restricted_pod_security_standard():
    namespace = named("Namespace", NAMESPACE)
    labels = namespace["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"


def test_every_pod_we_configure_satisfies_the_restricted_standard():
    chart = values()
    code_pod = render_code_deployment(chart)["spec"]["template"]["spec"]
    pods = {
        "code server": (
            code_pod["securityContext"],
            code_pod["containers"][0]["securityContext"],
            code_pod["volumes"],
        ),
        # Run and step pods: the launcher's container context (no pod-level one).
        "run and step": ({}, launcher_config()["security_context"], launcher_config()["volumes"]),
        "webserver": (
            chart["dagsterWebserver"]["podSecurityContext"],
            chart["dagsterWebserver"]["securityContext"],
            [],
        ),
        "daemon": (
            chart["dagsterDaemon"]["podSecurityContext"],
            chart["dagsterDaemon"]["securityContext"],
            [],
        ),
    }
    proxy = read_yaml(DEPLOY / "helm" / "oauth2-proxy-values.yaml")
    container = {k: v for k, v in proxy["securityContext"].items() if k != "enabled"}
    pods["oauth2-proxy"] = (proxy["podSecurityContext"], container, [])
    for name, (pod_context, container_context, volumes) in pods.items():
        assert _restricted_violations(pod_context, container_context, volumes) == [], name
    # Read-only root filesystems where the image is ours (and the proxy's).
    assert code_pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
    assert launcher_config()["security_context"]["readOnlyRootFilesystem"] is True
    assert container["readOnlyRootFilesystem"] is True


def test_the_webserver_is_reached_only_through_the_authenticating_proxy():
    webserver = values()["dagsterWebserver"]
    assert webserver["service"]["type"] == "ClusterIP"
    assert not values().get("ingress", {}).get("enabled", False)  # the chart's Ingress would bypass the proxy
    port = webserver["service"]["port"]
    assert port > 1024  # no capability needed to listen
    (policy,) = [
        p
        for p in _policies()
        if "Ingress" in p["spec"]["policyTypes"]
        and selects(p["spec"]["podSelector"], POD_LABELS["webserver"])
    ]
    (rule,) = policy["spec"]["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": port}]
    admitted = [
        source
        for source, labels in POD_LABELS.items()
        if any(selects(p["podSelector"], labels) for p in rule["from"])
    ]
    assert admitted == ["proxy"]

    proxy = read_yaml(DEPLOY / "helm" / "oauth2-proxy-values.yaml")
    secret = secrets()[proxy["config"]["existingSecret"]]
    assert set(secret["stringData"]) == {"client-id", "client-secret", "cookie-secret"}
    config_file = proxy["config"]["configFile"]
    assert f'upstreams = [ "http://dagster-webserver.{NAMESPACE}.svc.cluster.local:{port}" ]' in config_file
    assert "cookie_secure = true" in config_file
    assert proxy["ingress"]["enabled"] is True
    readme = (DEPLOY / "README.md").read_text()
    assert "oauth2-proxy-values.yaml" in readme


def test_only_lakefs_pods_reach_the_acl_server():
    deployment, service = named("Deployment", ACL_SERVER), named("Service", ACL_SERVER)
    acl_pod = deployment["spec"]["template"]
    namespace = deployment["metadata"]["namespace"]
    assert namespace == LAKEFS_NAMESPACE != NAMESPACE  # not beside pods that can create Jobs
    (port,) = acl_pod["spec"]["containers"][0]["ports"]
    (service_port,) = service["spec"]["ports"]
    assert selects({"matchLabels": service["spec"]["selector"]}, acl_pod["metadata"]["labels"])
    assert service_port["targetPort"] == port["name"] and service_port["port"] == port["containerPort"]
    ingress = [
        p
        for p in by_kind("NetworkPolicy")
        if p["metadata"]["namespace"] == namespace
        and "Ingress" in p["spec"]["policyTypes"]
        and selects(p["spec"]["podSelector"], acl_pod["metadata"]["labels"])
    ]
    (policy,) = ingress
    (rule,) = policy["spec"]["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": port["containerPort"]}]
    (peer,) = rule["from"]
    assert set(peer) == {"podSelector"}  # no namespaceSelector, no ipBlock: pods of lakefs only
    # Pod labels the lakeFS chart (release lakefs) gives lakeFS, and everything else that might ask.
    lakefs = {"app": "lakefs", "app.kubernetes.io/name": "lakefs", "app.kubernetes.io/instance": "lakefs"}
    assert selects(peer["podSelector"], lakefs)
    others = [*POD_LABELS.values(), acl_pod["metadata"]["labels"], {"app.kubernetes.io/name": "lakefs"}]
    assert not any(selects(peer["podSelector"], labels) for labels in others)
    # Its egress: the cluster DNS and its database, nothing else (not the metadata service).
    egress = [
        p
        for p in by_kind("NetworkPolicy")
        if p["metadata"]["namespace"] == namespace
        and "Egress" in p["spec"]["policyTypes"]
        and selects(p["spec"]["podSelector"], acl_pod["metadata"]["labels"])
    ]
    ports = {port["port"] for p in egress for rule in p["spec"]["egress"] for port in rule["ports"]}
    assert ports == {53, 5432}
    for rule in (rule for p in egress for rule in p["spec"]["egress"]):
        for peer in rule["to"]:
            if "ipBlock" in peer:
                assert METADATA_SERVICE not in ipaddress.ip_network(peer["ipBlock"]["cidr"])


def test_the_acl_server_runs_restricted_with_its_config_from_a_secret_file():
    pod = named("Deployment", ACL_SERVER)["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    volumes = pod["volumes"]
    assert _restricted_violations(pod["securityContext"], container["securityContext"], volumes) == []
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["automountServiceAccountToken"] is False
    assert named("ServiceAccount", pod["serviceAccountName"])["automountServiceAccountToken"] is False
    for kind in ("requests", "limits"):
        assert set(container["resources"][kind]) == {"cpu", "memory"}
    assert {"startupProbe", "readinessProbe", "livenessProbe"} <= set(container)
    # Its encryption key and database are a file from the Secret, never environment variables.
    (config,) = [v for v in volumes if "secret" in v]
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == config["name"]]
    args = container["args"]
    assert args[args.index("--config") + 1] == f"{mount['mountPath']}/config.yaml" and mount["readOnly"]
    template = {doc["metadata"]["name"]: doc for doc in read_yaml_documents(SECRETS_TEMPLATE)}
    secret = template[config["secret"]["secretName"]]
    assert secret["metadata"]["namespace"] == LAKEFS_NAMESPACE and set(secret["stringData"]) == {
        "config.yaml"
    }
    assert all("valueFrom" not in e and "SECRET" not in e["name"] for e in container.get("env", []))
