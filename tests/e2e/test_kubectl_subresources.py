"""Real kubectl on the subresources it reaches for: ``kubectl debug`` (pods/ephemeralcontainers),
``kubectl scale`` of a custom resource (its CRD's scale subresource) and a namespace's
``finalize`` through ``kubectl replace --raw``."""

from __future__ import annotations

import json

from tests.e2e.conftest import Cluster

CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale:
        specReplicasPath: .spec.replicas
        statusReplicasPath: .status.replicas
        labelSelectorPath: .status.selector
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              replicas: {type: integer, minimum: 0}
              color: {type: string}
          status:
            type: object
            properties:
              replicas: {type: integer}
              selector: {type: string}
"""

WIDGET = """
apiVersion: example.com/v1
kind: Widget
metadata: {name: w}
spec: {replicas: 1, color: blue}
"""


def test_kubectl_debug_adds_an_ephemeral_container(cluster: Cluster) -> None:
    cluster.kubectl("run", "x", "--image=nginx")
    # no kubelet runs the container, so kubectl must not wait to attach to it
    cluster.kubectl("debug", "pod/x", "-it", "--image=busybox", "--attach=false", "-c", "dbg")
    name = cluster.kubectl(
        "get", "pod", "x", "-o", "jsonpath={.spec.ephemeralContainers[0].name}"
    ).stdout
    assert name == "dbg"
    pod = json.loads(cluster.kubectl("get", "pod", "x", "-o", "json").stdout)
    (container,) = pod["spec"]["ephemeralContainers"]
    assert (container["image"], container["imagePullPolicy"]) == ("busybox", "Always")
    assert pod["spec"]["containers"][0]["name"] == "x"
    cluster.kubectl("debug", "pod/x", "--image=alpine", "--attach=false", "-c", "dbg2")
    names = cluster.kubectl(
        "get", "pod", "x", "-o", "jsonpath={.spec.ephemeralContainers[*].name}"
    ).stdout
    assert sorted(names.split()) == ["dbg", "dbg2"]


def test_kubectl_scale_of_a_custom_resource(cluster: Cluster) -> None:
    cluster.kubectl("apply", "-f", "-", stdin=CRD)
    cluster.kubectl("apply", "-f", "-", stdin=WIDGET)
    out = cluster.kubectl("scale", "widget/w", "--replicas=3").stdout
    assert "widget.example.com/w scaled" in out
    spec = cluster.kubectl("get", "widget", "w", "-o", "jsonpath={.spec}").stdout
    assert json.loads(spec) == {"color": "blue", "replicas": 3}
    # with a precondition kubectl reads the Scale first, then PUTs it
    cluster.kubectl("scale", "widget", "w", "--current-replicas=3", "--replicas=5")
    raw = cluster.kubectl("get", "--raw", "/apis/example.com/v1/namespaces/default/widgets/w/scale")
    scale = json.loads(raw.stdout)
    assert (scale["kind"], scale["spec"], scale["status"]) == (
        "Scale",
        {"replicas": 5},
        {"replicas": 0},
    )
    stale = cluster.kubectl(
        "scale", "widget", "w", "--current-replicas=3", "--replicas=1", check=False
    )
    assert stale.returncode != 0
    assert "Expected replicas to be 3, was 5" in stale.stderr


def test_kubectl_replace_raw_finalizes_a_namespace(cluster: Cluster) -> None:
    cluster.kubectl("create", "namespace", "team")
    namespace = json.loads(cluster.kubectl("get", "namespace", "team", "-o", "json").stdout)
    assert namespace["spec"]["finalizers"] == ["kubernetes"]
    namespace["spec"]["finalizers"] = ["kubernetes", "example.com/cleanup"]
    out = cluster.kubectl(
        "replace",
        "--raw",
        "/api/v1/namespaces/team/finalize",
        "-f",
        "-",
        stdin=json.dumps(namespace),
    ).stdout
    assert json.loads(out)["spec"]["finalizers"] == ["kubernetes", "example.com/cleanup"]
    finalizers = cluster.kubectl(
        "get", "namespace", "team", "-o", "jsonpath={.spec.finalizers}"
    ).stdout
    assert json.loads(finalizers) == ["kubernetes", "example.com/cleanup"]
    namespace["spec"]["finalizers"] = ["cleanup"]
    del namespace["metadata"]["resourceVersion"]  # an unconditional update
    bad = cluster.kubectl(
        "replace",
        "--raw",
        "/api/v1/namespaces/team/finalize",
        "-f",
        "-",
        stdin=json.dumps(namespace),
        check=False,
    )
    assert bad.returncode != 0
    assert (
        'The Namespace "team" is invalid: spec.finalizers[0]: Invalid value: "cleanup": name is '
        "neither a standard finalizer name nor is it fully qualified"
    ) in bad.stderr
