"""kubectl's typed-client commands send protobuf bodies; the objects must come out as expected.

`kubectl create namespace|configmap|secret|serviceaccount|deployment|job|service` encode the
object as `application/vnd.kubernetes.protobuf` and never fall back to JSON, so each of them
only works when the server decodes protobuf.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from tests.e2e.conftest import Cluster


def get_json(cluster: Cluster, *args: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(cluster.kubectl("get", *args, "-o", "json").stdout)
    return result


def test_create_namespace_configmap_secret_serviceaccount(cluster: Cluster) -> None:
    cluster.kubectl("create", "namespace", "team-a")
    namespace = get_json(cluster, "namespace", "team-a")
    assert namespace["status"]["phase"] == "Active"

    cluster.kubectl("create", "configmap", "settings", "--from-literal=a=b", "-n", "team-a")
    configmap = get_json(cluster, "configmap", "settings", "-n", "team-a")
    assert configmap["data"] == {"a": "b"}
    assert configmap["metadata"]["namespace"] == "team-a"

    cluster.kubectl("create", "secret", "generic", "creds", "--from-literal=a=b")
    secret = get_json(cluster, "secret", "creds")
    assert secret["type"] == "Opaque"
    assert secret["data"] == {"a": base64.b64encode(b"b").decode()}

    cluster.kubectl("create", "serviceaccount", "robot")
    account = get_json(cluster, "serviceaccount", "robot")
    assert account["metadata"]["name"] == "robot"
    assert account["metadata"]["uid"]


def test_create_deployment_job_cronjob(cluster: Cluster) -> None:
    cluster.kubectl("create", "deployment", "web", "--image=nginx", "--replicas=0")
    deployment = get_json(cluster, "deployment", "web")
    assert deployment["spec"]["replicas"] == 0
    assert deployment["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    template = deployment["spec"]["template"]
    assert template["metadata"]["labels"] == {"app": "web"}
    [container] = template["spec"]["containers"]
    assert (container["name"], container["image"]) == ("nginx", "nginx")

    cluster.kubectl("create", "job", "once", "--image=busybox", "--", "echo", "hi")
    job = get_json(cluster, "job", "once")
    [container] = job["spec"]["template"]["spec"]["containers"]
    assert (container["name"], container["image"]) == ("once", "busybox")
    assert container["command"] == ["echo", "hi"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"

    cluster.kubectl("create", "cronjob", "tick", "--image=busybox", "--schedule=*/5 * * * *")
    cronjob = get_json(cluster, "cronjob", "tick")
    assert cronjob["spec"]["schedule"] == "*/5 * * * *"
    job_spec = cronjob["spec"]["jobTemplate"]["spec"]
    assert job_spec["template"]["spec"]["containers"][0]["image"] == "busybox"


def test_create_service_clusterip(cluster: Cluster) -> None:
    cluster.kubectl("create", "service", "clusterip", "api", "--tcp=80:8080")
    service = get_json(cluster, "service", "api")
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["selector"] == {"app": "api"}
    [port] = service["spec"]["ports"]
    assert (port["port"], port["targetPort"], port["protocol"]) == (80, 8080, "TCP")
    assert service["spec"]["clusterIP"]


def test_dry_run_server_and_output_show_the_decoded_object(cluster: Cluster) -> None:
    out = cluster.kubectl(
        "create", "configmap", "preview", "--from-literal=k=v", "--dry-run=server", "-o", "json"
    ).stdout
    assert json.loads(out)["data"] == {"k": "v"}
    missing = cluster.kubectl("get", "configmap", "preview", check=False)
    assert missing.returncode != 0


def test_create_rbac_policy_and_cluster_objects(cluster: Cluster) -> None:
    cluster.kubectl("create", "role", "reader", "--verb=get,list", "--resource=pods")
    role = get_json(cluster, "role", "reader")
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]

    cluster.kubectl("create", "rolebinding", "read", "--role=reader", "--user=bob")
    binding = get_json(cluster, "rolebinding", "read")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "reader",
    }
    assert binding["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "bob"}
    ]

    cluster.kubectl("create", "clusterrole", "agg", "--aggregation-rule=team=a")
    clusterrole = get_json(cluster, "clusterrole", "agg")
    selectors = clusterrole["aggregationRule"]["clusterRoleSelectors"]
    assert selectors == [{"matchLabels": {"team": "a"}}]

    cluster.kubectl("create", "pdb", "web", "--selector=app=web", "--min-available=1")
    assert get_json(cluster, "pdb", "web")["spec"]["minAvailable"] == 1

    cluster.kubectl("create", "quota", "small", "--hard=pods=2,cpu=1")
    assert get_json(cluster, "quota", "small")["spec"]["hard"] == {"cpu": "1", "pods": "2"}

    cluster.kubectl("create", "ingress", "site", "--rule=a.example/=web:80")
    [rule] = get_json(cluster, "ingress", "site")["spec"]["rules"]
    [path] = rule["http"]["paths"]
    assert rule["host"] == "a.example"
    assert path["backend"] == {"service": {"name": "web", "port": {"number": 80}}}


def test_a_bad_cronjob_schedule_or_zone_is_refused(cluster: Cluster) -> None:
    """kubectl sends the CronJob in protobuf; the API server validates it as upstream."""
    bad = cluster.kubectl(
        "create", "cronjob", "late", "--image=busybox", "--schedule=61 * * * *", check=False
    )
    assert bad.returncode != 0
    assert (
        'CronJob.batch "late" is invalid: spec.schedule: Invalid value: "61 * * * *": '
        "end of range (61) above maximum (59): 61" in bad.stderr
    )
    manifest = """
apiVersion: batch/v1
kind: CronJob
metadata: {name: lost}
spec:
  schedule: "0 3 * * *"
  timeZone: Europe/Pariss
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{name: c, image: busybox}]
"""
    lost = cluster.kubectl("apply", "-f", "-", stdin=manifest, check=False)
    assert lost.returncode != 0
    assert 'spec.timeZone: Invalid value: "Europe/Pariss": unknown time zone Europe/Pariss' in (
        lost.stderr
    )
