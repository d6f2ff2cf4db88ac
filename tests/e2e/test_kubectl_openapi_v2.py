"""kubectl and ``/openapi/v2``: applying a ``kind: List`` with default validation.

kubectl validates the items of a List client-side, against the models of the gnostic protobuf
it fetches from ``/openapi/v2`` (the v3 documents only tell it when to leave validation to the
server). These tests apply Lists of built-in and custom kinds, and check that an unknown field
is refused by kubectl itself, with nothing created.
"""

from __future__ import annotations

import json
from typing import Any

from tests.e2e.conftest import Cluster
from tests.e2e.test_kubectl_crd import CR, CRD

CONFIGMAP: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "settings"},
    "data": {"greeting": "hello"},
}
DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web"},
    "spec": {
        "replicas": 1,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "containers": [
                    {"name": "nginx", "image": "nginx:1.25", "ports": [{"containerPort": 80}]}
                ]
            },
        },
    },
}
SERVICE: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "web"},
    "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
}


def _list(*items: dict[str, Any]) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": list(items)})


def _yaml_list(*items: str) -> str:
    """A List whose items are YAML documents (indented under ``items:``)."""
    lines = ["apiVersion: v1", "kind: List", "items:"]
    for item in items:
        body = [line for line in item.strip().splitlines() if line.strip()]
        lines.append("- " + body[0])
        lines.extend("  " + line for line in body[1:])
    return "\n".join(lines) + "\n"


def test_apply_a_list_validates_its_items_and_creates_them(cluster: Cluster) -> None:
    out = cluster.kubectl("apply", "-f", "-", "-v=6", stdin=_list(CONFIGMAP, DEPLOYMENT, SERVICE))
    assert out.stdout.splitlines() == [
        "configmap/settings created",
        "deployment.apps/web created",
        "service/web created",
    ]
    assert "/openapi/v2" in out.stderr  # the client-side validation read the document
    assert "200 OK" in next(line for line in out.stderr.splitlines() if "/openapi/v2" in line)
    assert cluster.kubectl("get", "configmap", "settings", "-o", "jsonpath={.data}").stdout == (
        '{"greeting":"hello"}'
    )
    assert cluster.kubectl("get", "deployment", "web", "-o", "name").stdout.strip() == (
        "deployment.apps/web"
    )
    ports = cluster.kubectl("get", "service", "web", "-o", "jsonpath={.spec.ports[0].port}")
    assert ports.stdout == "80"

    changed = {**CONFIGMAP, "data": {"greeting": "bonjour"}}
    out = cluster.kubectl("apply", "-f", "-", stdin=_list(changed, DEPLOYMENT, SERVICE))
    assert out.stdout.splitlines() == [
        "configmap/settings configured",
        "deployment.apps/web unchanged",
        "service/web unchanged",
    ]
    data = cluster.kubectl("get", "configmap", "settings", "-o", "jsonpath={.data.greeting}")
    assert data.stdout == "bonjour"


def test_an_unknown_field_in_a_list_is_refused_client_side(cluster: Cluster) -> None:
    container = {**DEPLOYMENT["spec"]["template"]["spec"]["containers"][0], "imagee": "typo"}
    bad = json.loads(json.dumps(DEPLOYMENT))
    bad["spec"]["template"]["spec"]["containers"] = [container]
    out = cluster.kubectl("apply", "-f", "-", stdin=_list(CONFIGMAP, bad, SERVICE), check=False)
    assert out.returncode == 1
    assert "error validating data: ValidationError(" in out.stderr
    assert (
        'ValidationError(Deployment.spec.template.spec.containers[0]): unknown field "imagee" '
        "in io.k8s.api.core.v1.Container" in out.stderr
    )
    assert "turn validation off with --validate=false" in out.stderr
    assert out.stdout == ""
    for name in ("configmap/settings", "deployment/web", "service/web"):
        missing = cluster.kubectl("get", name, check=False)
        assert "NotFound" in missing.stderr, name

    top = {**CONFIGMAP, "bogus": 1}
    out = cluster.kubectl("apply", "-f", "-", stdin=_list(top), check=False)
    assert 'ValidationError(ConfigMap): unknown field "bogus" in io.k8s.api.core.v1.ConfigMap' in (
        out.stderr
    )


def test_apply_a_list_with_a_custom_resource(cluster: Cluster) -> None:
    cluster.kubectl("apply", "-f", "-", stdin=CRD)
    cluster.kubectl(
        "wait", "--for=condition=Established", "crd/crontabs.stable.example.com", "--timeout=30s"
    )
    configmap = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: beside\ndata:\n  a: b\n"
    out = cluster.kubectl("apply", "-f", "-", stdin=_yaml_list(CR, configmap))
    assert out.stdout.splitlines() == [
        "crontab.stable.example.com/my-new-cron-object created",
        "configmap/beside created",
    ]
    lines = cluster.kubectl("get", "crontabs").stdout.splitlines()
    assert lines[1].split() == ["my-new-cron-object", "*/5", "2"]

    out = cluster.kubectl(
        "apply", "-f", "-", stdin=_yaml_list(CR.replace("replicas: 2", "replicas: 3"))
    )
    assert out.stdout.strip() == "crontab.stable.example.com/my-new-cron-object configured"

    typo = CR.replace("my-new-cron-object", "typo").replace("image:", "imag:")
    out = cluster.kubectl("apply", "-f", "-", stdin=_yaml_list(typo), check=False)
    assert out.returncode == 1
    assert (
        'ValidationError(CronTab.spec): unknown field "imag" in com.example.stable.v1.CronTab.spec'
        in out.stderr
    )
    assert cluster.kubectl("get", "crontab", "typo", check=False).returncode != 0
