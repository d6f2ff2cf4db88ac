"""Server-side apply end to end: real kubectl (`apply --server-side`) and the Python client
(apply patches, the dynamic client on a custom resource)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from kubernetes import client, config, dynamic
from kubernetes.client.exceptions import ApiException

from tests.e2e.conftest import Cluster

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: nginx
        image: nginx:1
"""

CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer}
              color: {type: string}
"""


def managers(cluster: Cluster, *target: str) -> list[dict[str, Any]]:
    shown = cluster.kubectl("get", *target, "-o", "yaml", "--show-managed-fields").stdout
    fields: list[dict[str, Any]] = yaml.safe_load(shown)["metadata"]["managedFields"]
    return fields


def test_apply_server_side_conflicts_and_force(cluster: Cluster) -> None:
    applied = cluster.kubectl("apply", "--server-side", "-f", "-", stdin=DEPLOYMENT).stdout
    assert applied.strip() == "deployment.apps/web serverside-applied"
    # The deployment controller may already have written its own entry (status, annotations).
    [entry] = [m for m in managers(cluster, "deployment", "web") if m["manager"] == "kubectl"]
    assert (entry["manager"], entry["operation"]) == ("kubectl", "Apply")
    assert "f:replicas" in entry["fieldsV1"]["f:spec"]
    # Without --show-managed-fields kubectl hides them, as against any cluster.
    plain = cluster.kubectl("get", "deployment", "web", "-o", "yaml").stdout
    assert "managedFields" not in plain

    cluster.kubectl("scale", "deployment", "web", "--replicas=4")
    changed = DEPLOYMENT.replace("replicas: 2", "replicas: 3")
    refused = cluster.kubectl("apply", "--server-side", "-f", "-", stdin=changed, check=False)
    assert refused.returncode == 1
    assert "Apply failed with 1 conflict: conflict with" in refused.stderr
    assert ".spec.replicas" in refused.stderr
    assert "--force-conflicts" in refused.stderr  # kubectl's advice for this Status
    replicas = cluster.kubectl("get", "deployment", "web", "-o", "jsonpath={.spec.replicas}")
    assert replicas.stdout == "4"

    forced = cluster.kubectl(
        "apply", "--server-side", "--force-conflicts", "-f", "-", stdin=changed
    ).stdout
    assert forced.strip() == "deployment.apps/web serverside-applied"
    replicas = cluster.kubectl("get", "deployment", "web", "-o", "jsonpath={.spec.replicas}")
    assert replicas.stdout == "3"
    # kubectl's own Update (the scale) lost its last field and is gone; the deployment
    # controller's entry (its revision annotation) stays, as on any cluster
    owners = managers(cluster, "deployment", "web")
    assert [(m["manager"], m["operation"]) for m in owners if m["manager"] == "kubectl"] == [
        ("kubectl", "Apply")
    ]

    # Dropping a field from the manifest removes it; a dry run changes nothing.
    without_label = changed.replace("  labels: {app: web}\n", "", 1)
    cluster.kubectl("apply", "--server-side", "--dry-run=server", "-f", "-", stdin=without_label)
    labels = cluster.kubectl("get", "deployment", "web", "-o", "jsonpath={.metadata.labels}")
    assert labels.stdout == '{"app":"web"}'
    cluster.kubectl("apply", "--server-side", "-f", "-", stdin=without_label)
    labels = cluster.kubectl("get", "deployment", "web", "-o", "jsonpath={.metadata.labels}")
    assert labels.stdout == ""


def test_client_side_then_server_side_apply(cluster: Cluster) -> None:
    first = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: moved}\ndata: {a: '1', b: '2'}\n"
    cluster.kubectl("apply", "-f", "-", stdin=first)
    [entry] = managers(cluster, "configmap", "moved")
    assert (entry["manager"], entry["operation"]) == ("kubectl-client-side-apply", "Update")
    second = first.replace("a: '1', b: '2'", "a: '3'")
    moved = cluster.kubectl("apply", "--server-side", "-f", "-", stdin=second).stdout
    assert moved.strip() == "configmap/moved serverside-applied"
    data = cluster.kubectl("get", "configmap", "moved", "-o", "jsonpath={.data}").stdout
    assert data == '{"a":"3"}'
    # and back to client-side apply, which reads the annotation the server kept current
    third = first.replace("a: '1', b: '2'", "a: '4'")
    cluster.kubectl("apply", "-f", "-", stdin=third)
    data = cluster.kubectl("get", "configmap", "moved", "-o", "jsonpath={.data}").stdout
    assert data == '{"a":"4"}'


def test_diff_server_side(cluster: Cluster) -> None:
    cluster.kubectl("apply", "--server-side", "-f", "-", stdin=DEPLOYMENT)
    changed = DEPLOYMENT.replace("nginx:1", "nginx:2")
    diff = cluster.kubectl("diff", "--server-side", "-f", "-", stdin=changed, check=False)
    assert diff.returncode == 1, diff.stderr  # 1: differences found
    changes = [line for line in diff.stdout.splitlines() if line[:1] in "+-"]
    assert [c for c in changes if not c.startswith(("+++", "---"))] == [
        "-  generation: 1",
        "+  generation: 2",
        "-      - image: nginx:1",
        "+      - image: nginx:2",
    ]


@pytest.fixture
def api(cluster: Cluster) -> Iterator[client.ApiClient]:
    api_client = config.new_client_from_config(config_file=str(cluster.kubeconfig))
    try:
        yield api_client
    finally:
        api_client.close()


def test_python_client_apply_patch_with_dry_run(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "py"}, "data": {"a": "1"}}
    dry = core.patch_namespaced_config_map(
        "py",
        "default",
        body,
        field_manager="py-client",
        dry_run="All",
        _content_type="application/apply-patch+yaml",
    )
    assert dry.metadata.managed_fields[0].manager == "py-client"
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_config_map("py", "default")
    assert missing.value.status == 404

    created = core.patch_namespaced_config_map(
        "py",
        "default",
        body,
        field_manager="py-client",
        _content_type="application/apply-patch+yaml",
    )
    assert created.data == {"a": "1"}
    entry = created.metadata.managed_fields[0]
    assert (entry.manager, entry.operation, entry.fields_type) == ("py-client", "Apply", "FieldsV1")

    body["data"] = {"a": "2"}
    with pytest.raises(ApiException) as conflict:
        core.patch_namespaced_config_map(
            "py",
            "default",
            body,
            field_manager="other",
            _content_type="application/apply-patch+yaml",
        )
    assert conflict.value.status == 409
    assert 'conflict with \\"py-client\\"' in conflict.value.body
    forced = core.patch_namespaced_config_map(
        "py",
        "default",
        body,
        field_manager="other",
        force=True,
        _content_type="application/apply-patch+yaml",
    )
    assert forced.data == {"a": "2"}


def test_dynamic_client_on_a_custom_resource(cluster: Cluster, api: client.ApiClient) -> None:
    cluster.kubectl("apply", "-f", "-", stdin=CRD)
    cluster.kubectl("wait", "--for=condition=Established", "crd/widgets.example.com")
    dyn = dynamic.DynamicClient(api)
    widgets = dyn.resources.get(api_version="example.com/v1", kind="Widget")
    widget = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w1"},
        "spec": {"size": 1, "color": "red"},
    }
    created = widgets.create(body=widget, namespace="default")
    assert created.spec.size == 1
    listed = widgets.get(namespace="default")
    assert [w.metadata.name for w in listed.items] == ["w1"]
    patched = widgets.patch(
        name="w1",
        namespace="default",
        body={"spec": {"size": 2}},
        content_type="application/merge-patch+json",
    )
    assert patched.spec.size == 2
    applied = widgets.server_side_apply(
        body={**widget, "spec": {"color": "blue"}},
        namespace="default",
        field_manager="dyn",
        force_conflicts=True,
    )
    assert applied.spec.color == "blue"
    assert applied.spec.size == 2
    widgets.delete(name="w1", namespace="default")
    assert widgets.get(namespace="default").items == []
    shown = cluster.kubectl("get", "widgets").stderr
    assert "No resources found" in shown
