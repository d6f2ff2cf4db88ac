"""Strategic merge patch: what kubectl patch and client-side kubectl apply send."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from pocketkube.api.patch import (
    CORE_PATCH_SCHEMAS,
    CUSTOM_RESOURCE_PATCH_TYPES,
    FieldSchema,
    PatchError,
    UnsupportedPatchTypeError,
    apply_strategic_merge_patch,
    schema_for_kind,
    strategic_schema_for,
)

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def pod() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "web",
            "labels": {"app": "web", "tier": "front"},
            "finalizers": ["a.example.com/x", "b.example.com/y"],
            "ownerReferences": [{"uid": "u1", "kind": "ReplicaSet", "name": "rs"}],
        },
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": "nginx:1.25",
                    "ports": [{"containerPort": 80, "protocol": "TCP"}],
                    "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                },
                {"name": "sidecar", "image": "busybox"},
            ],
            "volumes": [{"name": "data", "emptyDir": {}}],
            "tolerations": [{"key": "k1", "operator": "Exists"}],
            "nodeSelector": {"disk": "ssd", "zone": "a"},
        },
    }


def containers(obj: dict[str, Any]) -> list[Any]:
    return [c["name"] for c in obj["spec"]["containers"]]


POD = CORE_PATCH_SCHEMAS["Pod"]


def test_container_image_change_by_name() -> None:
    out = apply_strategic_merge_patch(
        pod(), {"spec": {"containers": [{"name": "sidecar", "image": "busybox:2"}]}}, POD
    )
    assert containers(out) == ["app", "sidecar"]
    assert out["spec"]["containers"][1] == {"name": "sidecar", "image": "busybox:2"}
    assert out["spec"]["containers"][0] == pod()["spec"]["containers"][0]


def test_adding_a_container_puts_it_first_without_an_order() -> None:
    # Upstream interleaves by live position; a new element has none and goes first
    # (the kubectl patch task page shows exactly this for patch-demo-ctr-2).
    out = apply_strategic_merge_patch(
        pod(), {"spec": {"containers": [{"name": "new", "image": "redis"}]}}, POD
    )
    assert containers(out) == ["new", "app", "sidecar"]


def test_adding_a_container_with_set_element_order() -> None:
    patch = {
        "spec": {
            "$setElementOrder/containers": [{"name": "app"}, {"name": "sidecar"}, {"name": "new"}],
            "containers": [{"name": "new", "image": "redis"}],
        }
    }
    out = apply_strategic_merge_patch(pod(), patch, POD)
    assert containers(out) == ["app", "sidecar", "new"]
    assert "$setElementOrder/containers" not in out["spec"]


def test_deleting_a_container() -> None:
    patch = {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}
    out = apply_strategic_merge_patch(pod(), patch, POD)
    assert containers(out) == ["app"]


def test_env_var_update_inside_matched_container() -> None:
    patch = {
        "spec": {
            "containers": [
                {"name": "app", "env": [{"name": "B", "value": "20"}, {"name": "C", "value": "3"}]}
            ]
        }
    }
    out = apply_strategic_merge_patch(pod(), patch, POD)
    app = out["spec"]["containers"][0]
    assert app["image"] == "nginx:1.25"
    assert app["env"] == [
        {"name": "A", "value": "1"},
        {"name": "B", "value": "20"},
        {"name": "C", "value": "3"},
    ]


def test_env_var_removal_with_delete_and_null_field() -> None:
    patch = {
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "ports": None,
                    "env": [{"name": "A", "$patch": "delete"}, {"name": "Z", "$patch": "delete"}],
                }
            ]
        }
    }
    out = apply_strategic_merge_patch(pod(), patch, POD)
    app = out["spec"]["containers"][0]
    assert "ports" not in app
    assert app["env"] == [{"name": "B", "value": "2"}]


def test_set_element_order_reorders_containers() -> None:
    patch = {"spec": {"$setElementOrder/containers": [{"name": "sidecar"}, {"name": "app"}]}}
    out = apply_strategic_merge_patch(pod(), patch, POD)
    assert containers(out) == ["sidecar", "app"]
    assert out["spec"]["containers"][1]["image"] == "nginx:1.25"


def test_retain_keys_on_volumes() -> None:
    patch = {
        "spec": {
            "volumes": [
                {"name": "data", "$retainKeys": ["hostPath", "name"], "hostPath": {"path": "/x"}}
            ]
        }
    }
    out = apply_strategic_merge_patch(pod(), patch, POD)
    assert out["spec"]["volumes"] == [{"name": "data", "hostPath": {"path": "/x"}}]


def test_retain_keys_on_deployment_strategy() -> None:
    deployment = {
        "spec": {
            "replicas": 2,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
        }
    }
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    out = apply_strategic_merge_patch(deployment, patch, CORE_PATCH_SCHEMAS["Deployment"])
    assert out == {"spec": {"replicas": 2, "strategy": {"type": "Recreate"}}}


def test_retain_keys_rejects_a_key_outside_the_list() -> None:
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {}}}}
    with pytest.raises(PatchError, match="invalid patch format of retainKeys"):
        apply_strategic_merge_patch({"spec": {}}, patch, CORE_PATCH_SCHEMAS["Deployment"])


def test_delete_from_primitive_list_finalizers() -> None:
    patch = {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a.example.com/x", "nope"]}}
    out = apply_strategic_merge_patch(pod(), patch, POD)
    assert out["metadata"]["finalizers"] == ["b.example.com/y"]


def test_delete_from_missing_primitive_list_adds_nothing() -> None:
    patch = {"metadata": {"$deleteFromPrimitiveList/finalizers": ["x"]}}
    out = apply_strategic_merge_patch({"metadata": {}}, patch, POD)
    assert out == {"metadata": {}}


def test_finalizers_merge_as_an_ordered_set() -> None:
    patch = {"metadata": {"finalizers": ["c.example.com/z", "a.example.com/x"]}}
    out = apply_strategic_merge_patch(pod(), patch, POD)
    assert out["metadata"]["finalizers"] == [
        "c.example.com/z",
        "a.example.com/x",
        "b.example.com/y",
    ]


def test_owner_references_merge_by_uid() -> None:
    patch = {"metadata": {"ownerReferences": [{"uid": "u1", "controller": True}]}}
    out = apply_strategic_merge_patch(pod(), patch, POD)
    assert out["metadata"]["ownerReferences"] == [
        {"uid": "u1", "kind": "ReplicaSet", "name": "rs", "controller": True}
    ]


def test_labels_removal_with_null() -> None:
    patch = {"metadata": {"labels": {"tier": None, "new": "x", "absent": None}}}
    out = apply_strategic_merge_patch(pod(), patch, POD)
    assert out["metadata"]["labels"] == {"app": "web", "new": "x"}


def test_tolerations_are_replaced_not_merged() -> None:
    patch = {"spec": {"tolerations": [{"key": "k2", "operator": "Exists"}]}}
    out = apply_strategic_merge_patch(pod(), patch, POD)
    assert out["spec"]["tolerations"] == [{"key": "k2", "operator": "Exists"}]


def test_map_patch_replace_and_delete() -> None:
    out = apply_strategic_merge_patch(
        pod(), {"spec": {"nodeSelector": {"$patch": "replace", "gpu": "yes"}}}, POD
    )
    assert out["spec"]["nodeSelector"] == {"gpu": "yes"}
    out = apply_strategic_merge_patch(pod(), {"spec": {"nodeSelector": {"$patch": "delete"}}}, POD)
    assert out["spec"]["nodeSelector"] == {}  # upstream empties an existing map
    out = apply_strategic_merge_patch(pod(), {"spec": {"affinity": {"$patch": "delete"}}}, POD)
    assert "affinity" not in out["spec"]
    out = apply_strategic_merge_patch(
        pod(), {"spec": {"nodeSelector": {"$patch": "merge", "gpu": "yes"}}}, POD
    )
    assert out["spec"]["nodeSelector"] == {"disk": "ssd", "zone": "a", "gpu": "yes"}


def test_list_patch_replace_element() -> None:
    patch = {"spec": {"containers": [{"$patch": "replace"}, {"name": "only", "image": "x"}]}}
    out = apply_strategic_merge_patch(pod(), patch, POD)
    assert out["spec"]["containers"] == [{"name": "only", "image": "x"}]


def test_service_ports_merge_by_port() -> None:
    svc = {"spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443, "name": "tls"}]}}
    patch = {"spec": {"ports": [{"port": 443, "targetPort": 8443}]}}
    out = apply_strategic_merge_patch(svc, patch, CORE_PATCH_SCHEMAS["Service"])
    assert out["spec"]["ports"] == [
        {"port": 80, "targetPort": 8080},
        {"port": 443, "name": "tls", "targetPort": 8443},
    ]


def test_cronjob_pod_template_containers_merge() -> None:
    cronjob = {
        "spec": {
            "jobTemplate": {
                "spec": {"template": {"spec": {"containers": [{"name": "a", "image": "1"}]}}}
            }
        }
    }
    patch = {
        "spec": {
            "jobTemplate": {
                "spec": {"template": {"spec": {"containers": [{"name": "a", "args": ["x"]}]}}}
            }
        }
    }
    out = apply_strategic_merge_patch(cronjob, patch, CORE_PATCH_SCHEMAS["CronJob"])
    template = out["spec"]["jobTemplate"]["spec"]["template"]
    assert template["spec"]["containers"] == [{"name": "a", "image": "1", "args": ["x"]}]


def test_what_kubectl_apply_sends() -> None:
    live = {
        "metadata": {
            "name": "web",
            "annotations": {LAST_APPLIED: "{}", "deployment.kubernetes.io/revision": "1"},
        },
        "spec": {
            "replicas": 1,
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {"name": "app", "image": "nginx:1.25", "imagePullPolicy": "IfNotPresent"},
                        {"name": "log", "image": "fluentbit:1"},
                        {"name": "injected", "image": "mesh-proxy"},
                    ]
                },
            },
        },
    }
    applied = {
        "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}}}
    }
    patch = {
        "metadata": {"annotations": {LAST_APPLIED: json.dumps(applied)}},
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "app"}],
                    "containers": [
                        {"name": "app", "image": "nginx:1.27"},
                        {"name": "log", "$patch": "delete"},
                    ],
                }
            }
        },
    }
    before = copy.deepcopy(patch)
    out = apply_strategic_merge_patch(live, patch, CORE_PATCH_SCHEMAS["Deployment"])
    assert patch == before
    assert out["metadata"]["annotations"] == {
        LAST_APPLIED: json.dumps(applied),
        "deployment.kubernetes.io/revision": "1",
    }
    assert out["spec"]["template"]["spec"]["containers"] == [
        {"name": "app", "image": "nginx:1.27", "imagePullPolicy": "IfNotPresent"},
        {"name": "injected", "image": "mesh-proxy"},
    ]


# Vectors from upstream's patch_test.go (Current + ThreeWay patch -> Result).
LISTS = FieldSchema(
    fields={
        "mergingList": FieldSchema(
            kind="list", items=FieldSchema(), merge_key="name", strategy="merge"
        ),
        "mergingIntList": FieldSchema(
            kind="list", items=FieldSchema(kind="primitive"), strategy="merge"
        ),
    }
)


def named(*names: int) -> list[dict[str, Any]]:
    return [{"name": n} for n in names]


UPSTREAM: list[tuple[str, Any, Any, Any]] = [
    (
        "add map and delete map from merging list",
        {"mergingList": [{"name": 1}, {"name": 2, "other": "b"}, {"name": 4, "other": "c"}]},
        {
            "$setElementOrder/mergingList": named(2, 3),
            "mergingList": [{"name": 3}, {"name": 1, "$patch": "delete"}],
        },
        {"mergingList": [{"name": 2, "other": "b"}, {"name": 4, "other": "c"}, {"name": 3}]},
    ),
    (
        "set elements order in a list with server-only items 2",
        {"mergingList": [{"name": 1, "other": "a"}, *named(2, 9, 3, 4)]},
        {"$setElementOrder/mergingList": named(2, 1, 4, 3)},
        {"mergingList": [{"name": 2}, {"name": 1, "other": "a"}, *named(9, 4, 3)]},
    ),
    (
        "set elements order in a list with server-only items 3",
        {"mergingList": [{"name": 1, "other": "a"}, *named(2, 7, 9, 8, 3, 4)]},
        {"$setElementOrder/mergingList": named(2, 1, 4, 3)},
        {"mergingList": [{"name": 2}, {"name": 1, "other": "a"}, *named(7, 9, 8, 4, 3)]},
    ),
    (
        "add map to merging list by pointer",
        {"mergingList": [{"name": 1, "other": "a"}, {"name": 3}]},
        {"$setElementOrder/mergingList": named(1, 2), "mergingList": named(2)},
        {"mergingList": [{"name": 1, "other": "a"}, {"name": 2}, {"name": 3}]},
    ),
    (
        "add and delete items in lists of scalars",
        {"mergingIntList": [1, 2, 3, 4]},
        {
            "$setElementOrder/mergingIntList": [1, 2, 4],
            "$deleteFromPrimitiveList/mergingIntList": [3],
        },
        {"mergingIntList": [1, 2, 4]},
    ),
    (
        "set elements order in a int list with server-only items",
        {"mergingIntList": [1, 3, 4, 2, 9]},
        {"$setElementOrder/mergingIntList": [4, 2, 3, 1]},
        {"mergingIntList": [4, 2, 3, 1, 9]},
    ),
]


@pytest.mark.parametrize(
    ("doc", "patch", "expected"), [c[1:] for c in UPSTREAM], ids=[c[0] for c in UPSTREAM]
)
def test_upstream_vectors(doc: Any, patch: Any, expected: Any) -> None:
    assert apply_strategic_merge_patch(doc, patch, LISTS) == expected


ERRORS: list[tuple[str, Any, str]] = [
    ("unknown map directive", {"spec": {"$patch": "frobnicate"}}, "unknown patch type: frobnicate"),
    (
        "unknown list directive",
        {"spec": {"containers": [{"name": "app", "$patch": "zap"}]}},
        "unknown patch type: zap",
    ),
    ("unknown $ key", {"spec": {"$frobnicate": 1}}, "unknown strategic merge patch directive"),
    ("missing merge key", {"spec": {"containers": [{"image": "x"}]}}, "merge key: name"),
    (
        "order does not match patch list",
        {
            "spec": {
                "$setElementOrder/containers": [{"name": "app"}, {"name": "sidecar"}],
                "containers": [{"name": "sidecar"}, {"name": "app"}],
            }
        },
        "doesn't match $setElementOrder list",
    ),
    ("bad setElementOrder key", {"spec": {"$setElementOrder/": []}}, "setElementOrder"),
    (
        "bad primitive list",
        {"metadata": {"$deleteFromPrimitiveList/finalizers": "x"}},
        "invalid patch format of primitive list",
    ),
]


@pytest.mark.parametrize(("patch", "message"), [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_errors(patch: Any, message: str) -> None:
    with pytest.raises(PatchError) as err:
        apply_strategic_merge_patch(pod(), patch, POD)
    assert message in str(err.value)


def test_inputs_are_never_mutated() -> None:
    doc, patch = (
        pod(),
        {
            "metadata": {"labels": {"app": None}, "$deleteFromPrimitiveList/finalizers": ["x"]},
            "spec": {
                "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "app"}],
                "containers": [{"name": "app", "env": [{"name": "A", "$patch": "delete"}]}],
                "volumes": [{"name": "data", "$retainKeys": ["name"]}],
            },
        },
    )
    doc_before, patch_before = copy.deepcopy(doc), copy.deepcopy(patch)
    out = apply_strategic_merge_patch(doc, patch, POD)
    assert doc == doc_before
    assert patch == patch_before
    out["spec"]["containers"][0]["image"] = "changed"
    assert doc == doc_before


def test_without_schema_lists_are_replaced_and_maps_merge() -> None:
    doc = {"spec": {"items": [1, 2], "m": {"a": 1}, "$ref": "x"}}
    patch = {"spec": {"items": [3], "m": {"b": 2}}}
    out = apply_strategic_merge_patch(doc, patch, None)
    assert out == {"spec": {"items": [3], "m": {"a": 1, "b": 2}, "$ref": "x"}}


def test_custom_resources_get_415() -> None:
    with pytest.raises(UnsupportedPatchTypeError) as err:
        strategic_schema_for("Widget", custom_resource=True)
    assert err.value.code == 415
    assert str(err.value) == (
        "the body of the request was in an unknown format - accepted media types include: "
        + ", ".join(CUSTOM_RESOURCE_PATCH_TYPES)
    )
    assert strategic_schema_for("Pod", custom_resource=False) is POD


def test_builtin_kind_without_entry_still_knows_object_meta() -> None:
    schema = schema_for_kind("Role")
    out = apply_strategic_merge_patch(
        {"metadata": {"finalizers": ["a"]}}, {"metadata": {"finalizers": ["b"]}}, schema
    )
    assert out["metadata"]["finalizers"] == ["b", "a"]


def test_schema_lookup() -> None:
    deployment = CORE_PATCH_SCHEMAS["Deployment"]
    env = deployment.lookup(["spec", "template", "spec", "containers", "env"])
    assert env is not None
    assert env.merge_key == "name"
    assert env.merges
    volumes = POD.lookup(["spec", "volumes"])
    assert volumes is not None
    assert volumes.retains_keys
    assert volumes.merges
    assert POD.lookup(["spec", "tolerations"]) is None
