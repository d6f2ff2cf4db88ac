"""More subresources through the real API server: pods/ephemeralcontainers, namespaces/finalize
and the scale subresource of custom resources."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.integration.apiserver.conftest import Client

PODS = "/api/v1/namespaces/default/pods"
NAMESPACES = "/api/v1/namespaces"
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
WIDGETS = "/apis/example.com/v1/namespaces/default/widgets"
MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"


async def _create(admin: Client, path: str, obj: dict[str, Any]) -> dict[str, Any]:
    code, body = await admin.request("POST", path, obj)
    assert code == 201, body
    result: dict[str, Any] = body
    return result


# -- pods/ephemeralcontainers --------------------------------------------------------------------
def _pod(name: str = "web", **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "web"}, **meta},
        "spec": {"containers": [{"name": "app", "image": "nginx"}]},
    }


def _debugger(name: str = "dbg", **fields: Any) -> dict[str, Any]:
    return {"name": name, "image": "busybox", "stdin": True, "tty": True, **fields}


async def _add_debugger(admin: Client, pod: str = "web", **fields: Any) -> tuple[int, Any]:
    patch = {"spec": {"ephemeralContainers": [_debugger(**fields)]}}
    return await admin.request(
        "PATCH", f"{PODS}/{pod}/ephemeralcontainers", patch, content_type=STRATEGIC
    )


async def test_ephemeral_containers_get_answers_with_the_pod(admin: Client) -> None:
    created = await _create(admin, PODS, _pod())
    code, got = await admin.request("GET", f"{PODS}/web/ephemeralcontainers")
    assert code == 200, got
    assert (got["kind"], got["metadata"]["uid"]) == ("Pod", created["metadata"]["uid"])


async def test_strategic_patch_adds_a_defaulted_ephemeral_container(admin: Client) -> None:
    created = await _create(admin, PODS, _pod())
    code, pod = await _add_debugger(admin)
    assert code == 200, pod
    (container,) = pod["spec"]["ephemeralContainers"]
    assert container["name"] == "dbg"
    assert container["imagePullPolicy"] == "Always"  # busybox: no tag
    assert container["terminationMessagePath"] == "/dev/termination-log"
    assert container["terminationMessagePolicy"] == "File"
    assert pod["spec"]["containers"] == created["spec"]["containers"]
    assert pod["metadata"]["resourceVersion"] != created["metadata"]["resourceVersion"]
    entries = pod["metadata"]["managedFields"]
    assert any(e.get("subresource") == "ephemeralcontainers" for e in entries), entries
    code, stored = await admin.request("GET", f"{PODS}/web")
    assert stored["spec"]["ephemeralContainers"] == [container]


async def test_put_keeps_everything_but_ephemeral_containers(admin: Client) -> None:
    created = await _create(admin, PODS, _pod())
    wanted = copy.deepcopy(created)
    wanted["metadata"]["labels"] = {"app": "changed"}
    wanted["spec"]["containers"][0]["image"] = "nginx:2"
    wanted["spec"]["activeDeadlineSeconds"] = 5
    wanted["status"] = {"phase": "Running"}
    wanted["spec"]["ephemeralContainers"] = [_debugger()]
    code, pod = await admin.request("PUT", f"{PODS}/web/ephemeralcontainers", wanted)
    assert code == 200, pod
    assert [c["name"] for c in pod["spec"]["ephemeralContainers"]] == ["dbg"]
    assert pod["metadata"]["labels"] == {"app": "web"}
    assert pod["spec"]["containers"][0]["image"] == "nginx"
    assert "activeDeadlineSeconds" not in pod["spec"]
    assert pod["status"]["phase"] == "Pending"


@pytest.mark.parametrize(
    ("content_type", "patch"),
    [
        (MERGE, {"spec": {"ephemeralContainers": [_debugger()]}}),
        (
            JSON_PATCH,
            [{"op": "add", "path": "/spec/ephemeralContainers", "value": [_debugger()]}],
        ),
    ],
)
async def test_other_patch_types(admin: Client, content_type: str, patch: Any) -> None:
    await _create(admin, PODS, _pod())
    code, pod = await admin.request(
        "PATCH", f"{PODS}/web/ephemeralcontainers", patch, content_type=content_type
    )
    assert code == 200, pod
    assert [c["name"] for c in pod["spec"]["ephemeralContainers"]] == ["dbg"]


async def test_existing_ephemeral_containers_cannot_be_removed_or_changed(admin: Client) -> None:
    await _create(admin, PODS, _pod())
    code, pod = await _add_debugger(admin)
    assert code == 200, pod
    removed = copy.deepcopy(pod)
    removed["spec"]["ephemeralContainers"] = []
    code, body = await admin.request("PUT", f"{PODS}/web/ephemeralcontainers", removed)
    assert code == 422, body
    assert body["message"] == (
        'Pod "web" is invalid: spec.ephemeralContainers: Forbidden: existing ephemeral '
        'containers "dbg" may not be removed\n'
    )
    changed = copy.deepcopy(pod)
    changed["spec"]["ephemeralContainers"][0]["image"] = "alpine"
    code, body = await admin.request("PUT", f"{PODS}/web/ephemeralcontainers", changed)
    assert code == 422, body
    assert body["message"].startswith(
        'Pod "web" is invalid: spec.ephemeralContainers[dbg]: Forbidden: existing ephemeral '
        'containers "dbg" may not be changed\n'
    ), body
    # a second container may be added next to the first
    code, pod = await _add_debugger(admin, name="dbg2")
    assert code == 200, pod
    # (a strategic merge without $setElementOrder puts the patch's items first, as upstream)
    assert sorted(c["name"] for c in pod["spec"]["ephemeralContainers"]) == ["dbg", "dbg2"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"ports": [{"containerPort": 80}]},
            "spec.ephemeralContainers[0].ephemeralContainerCommon.ports: Forbidden: cannot be set "
            "for an Ephemeral Container",
        ),
        (
            {"readinessProbe": {"exec": {"command": ["true"]}}},
            "spec.ephemeralContainers[0].ephemeralContainerCommon.readinessProbe: Forbidden: "
            "cannot be set for an Ephemeral Container",
        ),
        (
            {"name": "app"},
            'spec.ephemeralContainers[0].ephemeralContainerCommon.name: Duplicate value: "app"',
        ),
        (
            {"targetContainerName": "nope"},
            'spec.ephemeralContainers[0].targetContainerName: Not found: "nope"',
        ),
        (
            {"image": ""},
            "spec.ephemeralContainers[0].ephemeralContainerCommon.image: Required value",
        ),
    ],
)
async def test_invalid_ephemeral_containers(
    admin: Client, fields: dict[str, Any], message: str
) -> None:
    await _create(admin, PODS, _pod())
    code, body = await _add_debugger(admin, **fields)
    assert code == 422, body
    assert body["message"] == f'Pod "web" is invalid: {message}', body


async def test_static_pods_take_no_ephemeral_containers(admin: Client) -> None:
    await _create(admin, PODS, _pod(annotations={"kubernetes.io/config.mirror": "hash"}))
    code, body = await _add_debugger(admin)
    assert code == 422, body
    assert body["message"] == (
        'Pod "web" is invalid: []: Forbidden: static pods do not support ephemeral containers'
    )


async def test_ephemeral_containers_put_with_a_stale_resource_version(admin: Client) -> None:
    created = await _create(admin, PODS, _pod())
    await _add_debugger(admin)
    created["spec"]["ephemeralContainers"] = [_debugger("other")]
    code, body = await admin.request("PUT", f"{PODS}/web/ephemeralcontainers", created)
    assert code == 409, body
    assert body["reason"] == "Conflict"


async def test_ephemeral_containers_dry_run_and_unsupported_verbs(admin: Client) -> None:
    await _create(admin, PODS, _pod())
    patch = {"spec": {"ephemeralContainers": [_debugger()]}}
    code, pod = await admin.request(
        "PATCH", f"{PODS}/web/ephemeralcontainers?dryRun=All", patch, content_type=STRATEGIC
    )
    assert code == 200, pod
    assert pod["spec"]["ephemeralContainers"][0]["name"] == "dbg"
    _, stored = await admin.request("GET", f"{PODS}/web")
    assert "ephemeralContainers" not in stored["spec"]
    code, body = await admin.request("DELETE", f"{PODS}/web/ephemeralcontainers")
    assert code == 405, body
    code, body = await admin.request("GET", f"{PODS}/missing/ephemeralcontainers")
    assert code == 404, body


async def test_the_pod_itself_cannot_add_ephemeral_containers(admin: Client) -> None:
    created = await _create(admin, PODS, _pod())
    created["spec"]["ephemeralContainers"] = [_debugger()]
    code, body = await admin.request("PUT", f"{PODS}/web", created)
    assert code == 422, body


# -- namespaces/finalize -------------------------------------------------------------------------
async def _namespace(admin: Client, name: str = "team", **meta: Any) -> dict[str, Any]:
    return await _create(
        admin,
        NAMESPACES,
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, **meta}},
    )


async def _finalize(admin: Client, namespace: dict[str, Any]) -> tuple[int, Any]:
    name = namespace["metadata"]["name"]
    return await admin.request("PUT", f"{NAMESPACES}/{name}/finalize", namespace)


async def test_finalize_changes_spec_finalizers_and_keeps_status(admin: Client) -> None:
    created = await _namespace(admin)
    assert created["spec"]["finalizers"] == ["kubernetes"]
    wanted = copy.deepcopy(created)
    wanted["spec"]["finalizers"] = ["kubernetes", "example.com/cleanup"]
    wanted["status"] = {"phase": "Terminating"}
    code, body = await _finalize(admin, wanted)
    assert code == 200, body
    assert body["kind"] == "Namespace"
    assert body["spec"]["finalizers"] == ["kubernetes", "example.com/cleanup"]
    assert body["status"] == {"phase": "Active"}
    entries = body["metadata"]["managedFields"]
    assert any(e.get("subresource") == "finalize" for e in entries), entries
    body["spec"] = {}
    code, emptied = await _finalize(admin, body)
    assert code == 200, emptied
    assert not emptied["spec"].get("finalizers")
    _, stored = await admin.request("GET", f"{NAMESPACES}/team")
    assert not stored["spec"].get("finalizers")


@pytest.mark.parametrize(
    ("finalizer", "message"),
    [
        (
            "unknown",
            'spec.finalizers[0]: Invalid value: "unknown": name is neither a standard finalizer '
            "name nor is it fully qualified",
        ),
        (
            "example.com/bad name",
            'spec.finalizers[0]: Invalid value: "example.com/bad name": name part must consist of '
            "alphanumeric characters, '-', '_' or '.', and must start and end with an "
            "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
            "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
        ),
    ],
)
async def test_finalize_validates_finalizer_names(
    admin: Client, finalizer: str, message: str
) -> None:
    created = await _namespace(admin)
    created["spec"]["finalizers"] = [finalizer]
    code, body = await _finalize(admin, created)
    assert code == 422, body
    assert body["message"] == f'Namespace "team" is invalid: {message}', body


async def test_finalize_of_a_deleted_namespace_removes_it_when_nothing_is_left(
    admin: Client,
) -> None:
    await _namespace(admin, finalizers=["example.com/hold"])
    code, marked = await admin.request("DELETE", f"{NAMESPACES}/team")
    assert code == 200, marked
    assert marked["metadata"].get("deletionTimestamp"), marked
    # the metadata finalizer goes, but "kubernetes" still holds it
    marked["metadata"]["finalizers"] = []
    code, held = await _finalize(admin, marked)
    assert code == 200, held
    assert held["spec"]["finalizers"] == ["kubernetes"]
    code, _ = await admin.request("GET", f"{NAMESPACES}/team")
    assert code == 200
    held["spec"]["finalizers"] = []
    code, gone = await _finalize(admin, held)
    assert code == 200, gone
    code, _ = await admin.request("GET", f"{NAMESPACES}/team")
    assert code == 404


async def test_finalize_keeps_a_namespace_whose_metadata_finalizers_remain(admin: Client) -> None:
    await _namespace(admin, finalizers=["example.com/hold"])
    _, marked = await admin.request("DELETE", f"{NAMESPACES}/team")
    marked["spec"]["finalizers"] = []
    code, body = await _finalize(admin, marked)
    assert code == 200, body
    code, stored = await admin.request("GET", f"{NAMESPACES}/team")
    assert code == 200
    assert stored["metadata"]["finalizers"] == ["example.com/hold"]


async def test_finalize_checks_name_version_and_verb(admin: Client) -> None:
    created = await _namespace(admin)
    other = copy.deepcopy(created)
    other["metadata"]["name"] = "other"
    code, body = await admin.request("PUT", f"{NAMESPACES}/team/finalize", other)
    assert code == 400, body
    moved = copy.deepcopy(created)
    moved["spec"]["finalizers"] = ["kubernetes", "example.com/more"]
    code, body = await _finalize(admin, moved)  # moves the resourceVersion on
    assert code == 200, body
    created["spec"]["finalizers"] = []
    code, body = await _finalize(admin, created)
    assert code == 409, body
    code, body = await admin.request("GET", f"{NAMESPACES}/team/finalize")
    assert code == 405, body
    missing = {"apiVersion": "v1", "kind": "Namespace", "spec": {"finalizers": []}}
    code, body = await admin.request("PUT", f"{NAMESPACES}/missing/finalize", missing)
    assert code == 404, body


# -- custom resources' scale ---------------------------------------------------------------------
def _crd(scale: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {
                        "status": {},
                        "scale": scale
                        or {
                            "specReplicasPath": ".spec.replicas",
                            "statusReplicasPath": ".status.replicas",
                            "labelSelectorPath": ".status.selector",
                        },
                    },
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                }
            ],
        },
    }


def _widget(name: str = "w", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": name},
        "spec": {"color": "blue", **spec},
    }


async def test_custom_resource_scale_reads_the_crd_paths(admin: Client) -> None:
    await _create(admin, CRDS, _crd())
    created = await _create(admin, WIDGETS, _widget(replicas=2))
    code, scale = await admin.request("GET", f"{WIDGETS}/w/scale")
    assert code == 200, scale
    assert (scale["apiVersion"], scale["kind"]) == ("autoscaling/v1", "Scale")
    assert scale["metadata"]["uid"] == created["metadata"]["uid"]
    assert scale["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    assert scale["spec"] == {"replicas": 2}
    assert scale["status"] == {"replicas": 0}
    created["status"] = {"replicas": 1, "selector": "app=w"}
    code, body = await admin.request("PUT", f"{WIDGETS}/w/status", created)
    assert code == 200, body
    _, scale = await admin.request("GET", f"{WIDGETS}/w/scale")
    assert scale["status"] == {"replicas": 1, "selector": "app=w"}


@pytest.mark.parametrize(
    ("content_type", "patch"),
    [
        (MERGE, {"spec": {"replicas": 5}}),
        (STRATEGIC, {"spec": {"replicas": 5}}),
        (JSON_PATCH, [{"op": "replace", "path": "/spec/replicas", "value": 5}]),
    ],
)
async def test_custom_resource_scale_patch_sets_the_spec_path_only(
    admin: Client, content_type: str, patch: Any
) -> None:
    await _create(admin, CRDS, _crd())
    await _create(admin, WIDGETS, _widget(replicas=2))
    code, scale = await admin.request(
        "PATCH", f"{WIDGETS}/w/scale", patch, content_type=content_type
    )
    assert code == 200, scale
    assert scale["spec"] == {"replicas": 5}
    _, widget = await admin.request("GET", f"{WIDGETS}/w")
    assert widget["spec"] == {"color": "blue", "replicas": 5}
    assert "status" not in widget


async def test_custom_resource_scale_put_and_conflict(admin: Client) -> None:
    await _create(admin, CRDS, _crd())
    await _create(admin, WIDGETS, _widget(replicas=1))
    _, scale = await admin.request("GET", f"{WIDGETS}/w/scale")
    scale["spec"]["replicas"] = 3
    code, body = await admin.request("PUT", f"{WIDGETS}/w/scale", scale)
    assert code == 200, body
    assert body["spec"] == {"replicas": 3}
    scale["spec"]["replicas"] = 4  # still the old resourceVersion
    code, body = await admin.request("PUT", f"{WIDGETS}/w/scale", scale)
    assert code == 409, body
    scale["spec"]["replicas"] = 0
    del scale["metadata"]["resourceVersion"]
    code, body = await admin.request("PUT", f"{WIDGETS}/w/scale", scale)
    assert code == 200, body
    assert body["spec"] == {}
    _, widget = await admin.request("GET", f"{WIDGETS}/w")
    assert widget["spec"]["replicas"] == 0


async def test_custom_resource_without_spec_replicas(admin: Client) -> None:
    await _create(admin, CRDS, _crd())
    await _create(admin, WIDGETS, _widget())
    code, body = await admin.request("GET", f"{WIDGETS}/w/scale")
    assert code == 500, body
    assert body["message"] == (
        'Internal error occurred: the spec replicas field ".spec.replicas" does not exist'
    )
    code, body = await admin.request(
        "PATCH", f"{WIDGETS}/w/scale", {"metadata": {"labels": {"a": "b"}}}, content_type=MERGE
    )
    assert code == 400, body
    assert body["message"] == 'the spec replicas field ".spec.replicas" cannot be empty'
    code, body = await admin.request(
        "PATCH", f"{WIDGETS}/w/scale", {"spec": {"replicas": 2}}, content_type=MERGE
    )
    assert code == 200, body
    _, widget = await admin.request("GET", f"{WIDGETS}/w")
    assert widget["spec"]["replicas"] == 2


async def test_custom_resource_scale_makes_nested_paths(admin: Client) -> None:
    scale = {"specReplicasPath": ".spec.scaling.count", "statusReplicasPath": ".status.count"}
    await _create(admin, CRDS, _crd(scale))
    await _create(admin, WIDGETS, _widget())
    code, body = await admin.request(
        "PUT",
        f"{WIDGETS}/w/scale",
        {"apiVersion": "autoscaling/v1", "kind": "Scale", "spec": {"replicas": 4}},
    )
    assert code == 200, body
    assert body["status"] == {"replicas": 0}
    _, widget = await admin.request("GET", f"{WIDGETS}/w")
    assert widget["spec"]["scaling"] == {"count": 4}


async def test_custom_resource_replicas_are_validated(admin: Client) -> None:
    await _create(admin, CRDS, _crd())
    code, body = await admin.request("POST", WIDGETS, _widget(replicas=-1))
    assert code == 422, body
    assert body["message"] == (
        'Widget.example.com "w" is invalid: .spec.replicas: Invalid value: -1: should be a '
        "non-negative integer"
    )
    code, body = await admin.request("POST", WIDGETS, _widget(replicas="three"))
    assert code == 422, body
    assert (
        ".spec.replicas accessor error: three is of the type string, expected int64"
        in (body["message"])
    )
    await _create(admin, WIDGETS, _widget(replicas=1))
    code, body = await admin.request(
        "PATCH", f"{WIDGETS}/w/scale", {"spec": {"replicas": -2}}, content_type=MERGE
    )
    assert code == 422, body
    assert ".spec.replicas: Invalid value: -2: should be a non-negative integer" in body["message"]


async def test_scale_of_a_custom_resource_without_the_subresource_is_404(admin: Client) -> None:
    crd = _crd()
    del crd["spec"]["versions"][0]["subresources"]["scale"]
    await _create(admin, CRDS, crd)
    await _create(admin, WIDGETS, _widget(replicas=1))
    code, body = await admin.request("GET", f"{WIDGETS}/w/scale")
    assert code == 404, body
