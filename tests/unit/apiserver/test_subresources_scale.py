"""The scale subresource's pieces: JSON paths into custom objects (crdschema), the validation
every write of a scalable custom object gets, and the Scale views of workloads and custom
resources."""

from __future__ import annotations

from typing import Any

import pytest

from pocketkube.api.status import StatusError
from pocketkube.apiserver.crdschema import (
    PathError,
    ScalePaths,
    nested_int,
    nested_string,
    set_nested,
    validate_scale,
)
from pocketkube.apiserver.subresources.customscale import UNSET_REPLICAS, CustomResourceScale
from pocketkube.apiserver.subresources.scaleview import WORKLOADS

PATHS = ScalePaths(".spec.replicas", ".status.replicas", ".status.selector")
META = {"name": "w", "namespace": "ns", "uid": "u1", "resourceVersion": "7", "labels": {"a": "b"}}


@pytest.mark.parametrize(
    ("obj", "path", "expected"),
    [
        ({"spec": {"replicas": 3}}, ".spec.replicas", (3, True)),
        ({"spec": {"replicas": 3}}, "spec.replicas", (3, True)),
        ({"spec": {}}, ".spec.replicas", (0, False)),
        ({}, ".spec.replicas", (0, False)),
        ({"spec": None}, ".spec.replicas", (0, False)),
        ({"spec": {"a": {"b": 0}}}, ".spec.a.b", (0, True)),
    ],
)
def test_nested_int(obj: dict[str, Any], path: str, expected: tuple[int, bool]) -> None:
    assert nested_int(obj, path) == expected


@pytest.mark.parametrize(
    ("obj", "path", "message"),
    [
        (
            {"spec": {"replicas": "3"}},
            ".spec.replicas",
            ".spec.replicas accessor error: 3 is of the type string, expected int64",
        ),
        (
            {"spec": {"replicas": 1.5}},
            ".spec.replicas",
            ".spec.replicas accessor error: 1.5 is of the type float64, expected int64",
        ),
        (
            {"spec": {"replicas": None}},
            ".spec.replicas",
            ".spec.replicas accessor error: <nil> is of the type <nil>, expected int64",
        ),
        (
            {"spec": {"replicas": True}},
            ".spec.replicas",
            ".spec.replicas accessor error: true is of the type bool, expected int64",
        ),
        (
            {"spec": "flat"},
            ".spec.replicas",
            ".spec.replicas accessor error: flat is of the type string, expected "
            "map[string]interface{}",
        ),
        (
            {"spec": [1, 2]},
            ".spec.x.y",
            ".spec.x accessor error: [1 2] is of the type []interface {}, expected "
            "map[string]interface{}",
        ),
    ],
)
def test_nested_int_accessor_errors(obj: dict[str, Any], path: str, message: str) -> None:
    with pytest.raises(PathError) as caught:
        nested_int(obj, path)
    assert str(caught.value) == message


def test_nested_string() -> None:
    assert nested_string({"status": {"selector": "app=x"}}, ".status.selector") == ("app=x", True)
    assert nested_string({}, ".status.selector") == ("", False)
    with pytest.raises(PathError, match="expected string"):
        nested_string({"status": {"selector": {"app": "x"}}}, ".status.selector")


@pytest.mark.parametrize(
    ("obj", "path", "expected"),
    [
        ({}, ".spec.replicas", {"spec": {"replicas": 4}}),
        ({"spec": {"a": 1}}, ".spec.replicas", {"spec": {"a": 1, "replicas": 4}}),
        ({"spec": {}}, ".spec.scaling.count", {"spec": {"scaling": {"count": 4}}}),
        ({"spec": {"replicas": 1}}, "spec.replicas", {"spec": {"replicas": 4}}),
    ],
)
def test_set_nested(obj: dict[str, Any], path: str, expected: dict[str, Any]) -> None:
    set_nested(obj, path, 4)
    assert obj == expected


def test_set_nested_through_a_non_map() -> None:
    with pytest.raises(PathError) as caught:
        set_nested({"spec": "flat"}, ".spec.replicas", 4)
    assert str(caught.value) == (
        "value cannot be set because .spec is not a map[string]interface{}"
    )


@pytest.mark.parametrize(
    ("obj", "messages"),
    [
        ({"spec": {"replicas": 2}, "status": {"replicas": 1, "selector": "a=b"}}, []),
        ({}, []),
        (
            {"spec": {"replicas": -1}},
            [".spec.replicas: Invalid value: -1: should be a non-negative integer"],
        ),
        (
            {"spec": {"replicas": 2**31}},
            [
                ".spec.replicas: Invalid value: 2147483648: should be less than or equal to "
                "2147483647"
            ],
        ),
        (
            {"status": {"replicas": -3}},
            [".status.replicas: Invalid value: -3: should be a non-negative integer"],
        ),
        (
            {"spec": {"replicas": "x"}, "status": {"selector": 5}},
            [
                ".spec.replicas: Invalid value: 0: .spec.replicas accessor error: x is of the "
                "type string, expected int64",
                '.status.selector: Invalid value: "": .status.selector accessor error: 5 is of '
                "the type int64, expected string",
            ],
        ),
    ],
)
def test_validate_scale(obj: dict[str, Any], messages: list[str]) -> None:
    assert [e.message for e in validate_scale(obj, PATHS)] == messages


def test_scale_paths_from_a_crd() -> None:
    paths = ScalePaths.from_crd({"specReplicasPath": ".spec.r", "statusReplicasPath": ".status.r"})
    assert paths == ScalePaths(".spec.r", ".status.r", "")


def test_custom_resource_scale_reads_the_paths() -> None:
    view = CustomResourceScale(PATHS)
    obj = {
        "metadata": META,
        "spec": {"replicas": 3},
        "status": {"replicas": 2, "selector": "app=w"},
    }
    assert view.scale(obj) == {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {k: v for k, v in META.items() if k != "labels"},
        "spec": {"replicas": 3},
        "status": {"replicas": 2, "selector": "app=w"},
    }


def test_custom_resource_scale_without_spec_replicas() -> None:
    view = CustomResourceScale(PATHS)
    obj: dict[str, Any] = {"metadata": META, "spec": {}}
    with pytest.raises(StatusError) as caught:
        view.scale(obj)
    assert caught.value.code == 500
    assert view.current(obj)["spec"] == {"replicas": UNSET_REPLICAS}
    with pytest.raises(StatusError) as caught:
        view.set_replicas(obj, view.current(obj), "w")
    assert caught.value.code == 400
    assert caught.value.status["message"] == (
        'the spec replicas field ".spec.replicas" cannot be empty'
    )


@pytest.mark.parametrize("replicas", ["3", 2.5, True, 2**31])
def test_custom_resource_scale_refuses_what_an_int32_cannot_hold(replicas: Any) -> None:
    with pytest.raises(StatusError) as caught:
        CustomResourceScale(PATHS).set_replicas({}, {"spec": {"replicas": replicas}}, "w")
    assert caught.value.code == 400


def test_custom_resource_scale_writes_the_spec_path_only() -> None:
    paths = ScalePaths(".spec.size.wanted", ".status.size", "")
    obj: dict[str, Any] = {"metadata": META, "status": {"size": 1}}
    view = CustomResourceScale(paths)
    view.set_replicas(obj, {"spec": {"replicas": 0}}, "w")
    assert obj == {"metadata": META, "status": {"size": 1}, "spec": {"size": {"wanted": 0}}}
    assert view.scale(obj)["spec"] == {}  # 0 is omitted, as upstream's omitempty
    assert view.scale(obj)["status"] == {"replicas": 1}


def test_workload_scale() -> None:
    deployment = {
        "kind": "Deployment",
        "metadata": META,
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "w"}}},
        "status": {"replicas": 1},
    }
    scale = WORKLOADS.scale(deployment)
    assert (scale["spec"], scale["status"]) == (
        {"replicas": 2},
        {"replicas": 1, "selector": "app=w"},
    )
    WORKLOADS.set_replicas(deployment, {"spec": {"replicas": 5}}, "w")
    assert deployment["spec"]["replicas"] == 5
    with pytest.raises(StatusError) as caught:
        WORKLOADS.set_replicas(deployment, {"spec": {"replicas": -1}}, "w")
    assert caught.value.code == 422
