"""managedFields and the Update and Apply operations: structured-merge-diff's merge/*_test.go
scenarios and k8s.io/apimachinery's managedfields facts (conflict messages, encoding,
timestamps, before-first-apply), in our API."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from pocketkube.api.managedfields import (
    APPLY,
    MISSING,
    UNTYPED,
    UPDATE,
    ApplyConflict,
    Entry,
    FieldSet,
    ManagedFields,
    ManagedFieldsError,
    SchemaTypes,
    TypeNode,
    path_string,
)
from pocketkube.api.managedfields.fieldset import key_element
from pocketkube.api.managedfields.manager import Conflict

REF = "#/components/schemas/"
STRING = {"type": "string"}
NUMBER = {"type": "number"}
BOOLEAN = {"type": "boolean"}


def struct(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties}


def set_of(items: Any) -> dict[str, Any]:
    return {"type": "array", "items": items, "x-kubernetes-list-type": "set"}


def map_list(items: Any, *keys: str) -> dict[str, Any]:
    return {
        "type": "array",
        "items": items,
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": list(keys),
    }


def map_of(values: Any) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": values}


def node(schema: Any, definitions: dict[str, Any] | None = None) -> TypeNode:
    return SchemaTypes(definitions or {}).node(schema)


LEAF = node(struct(numeric=NUMBER, string=STRING, bool=BOOLEAN))
SETS = node(struct(list=set_of(STRING)))
ASSOCIATIVE = node(struct(list=map_list(struct(name=STRING, value=NUMBER), "name")))
NESTED = node(
    struct(
        listOfLists=map_list(struct(name=STRING, value=set_of(STRING)), "name"),
        listOfMaps=map_list(struct(name=STRING, value=map_of(STRING)), "name"),
        mapOfMapsRecursive={"$ref": REF + "recursive"},
        struct=struct(name=STRING, value=NUMBER),
    ),
    {"recursive": map_of({"$ref": REF + "recursive"})},
)
STRUCT = node(
    struct(
        struct=struct(name=STRING, scalarField=STRING, complexField=struct(name=STRING)),
    )
)
PORTS = node(
    struct(
        containerPorts=map_list(
            struct(port=NUMBER, protocol={**STRING, "default": "TCP"}, name=STRING),
            "port",
            "protocol",
        )
    )
)
DUPLICATES = node(
    struct(
        list=map_list(struct(name=STRING, value1=NUMBER, value2=NUMBER), "name"),
        unrelated=NUMBER,
        set=set_of(NUMBER),
    )
)
POD = node(
    struct(
        apiVersion=STRING,
        kind=STRING,
        metadata={"$ref": REF + "ObjectMeta"},
        spec=struct(
            replicas=NUMBER,
            containers=map_list(
                struct(
                    name=STRING,
                    image=STRING,
                    ports=map_list(
                        struct(containerPort=NUMBER, protocol={**STRING, "default": "TCP"}),
                        "containerPort",
                        "protocol",
                    ),
                ),
                "name",
            ),
        ),
    ),
    {
        "ObjectMeta": struct(
            name=STRING,
            namespace=STRING,
            uid=STRING,
            resourceVersion=STRING,
            generation=NUMBER,
            creationTimestamp=STRING,
            labels=map_of(STRING),
            annotations=map_of(STRING),
        )
    },
)


class State:
    """A live object and its managers, as upstream's internal/fixture.State."""

    def __init__(self, type_: TypeNode, ignored: FieldSet | None = None) -> None:
        self.type = type_
        self.ignored = ignored or FieldSet()
        self.live: Any = MISSING
        self.managed = ManagedFields()
        self.clock = 0

    def now(self) -> str:
        self.clock += 1
        return f"2024-05-06T07:08:{self.clock:02d}Z"

    def apply(
        self,
        manager: str,
        config: dict[str, Any],
        *,
        force: bool = False,
        api_version: str = "v1",
        subresource: str = "",
    ) -> None:
        self.live = self.managed.apply(
            self.live,
            copy.deepcopy(config),
            self.type,
            manager=manager,
            api_version=api_version,
            subresource=subresource,
            now=self.now(),
            force=force,
            ignored=self.ignored,
        )

    def conflicts(self, manager: str, config: dict[str, Any], **kwargs: Any) -> list[str]:
        """Apply expecting conflicts: ``manager-name path`` for each; nothing changes."""
        before_live = copy.deepcopy(self.live)
        before_managed = self.managed.encode()
        with pytest.raises(ApplyConflict) as caught:
            self.apply(manager, config, **kwargs)
        assert self.live == before_live
        assert self.managed.encode() == before_managed
        return [f"{c.entry.manager} {path_string(c.path)}" for c in caught.value.conflicts]

    def update(
        self,
        manager: str,
        obj: dict[str, Any],
        *,
        api_version: str = "v1",
        subresource: str = "",
    ) -> None:
        self.managed.update(
            self.live,
            copy.deepcopy(obj),
            self.type,
            manager=manager,
            api_version=api_version,
            subresource=subresource,
            now=self.now(),
            ignored=self.ignored,
        )
        self.live = copy.deepcopy(obj)

    def owners(self) -> dict[str, list[str]]:
        """Each manager's fields, as sorted path strings."""
        out: dict[str, list[str]] = {}
        for entry in self.managed.entries.values():
            assert entry.manager not in out, "tests name each manager once"
            out[entry.manager] = sorted(path_string(p) for p in entry.fields.paths())
        return out

    def entry(self, manager: str) -> Entry:
        (found,) = [e for e in self.managed.entries.values() if e.manager == manager]
        return found


# -- leaf fields (merge/leaf_test.go) ------------------------------------------------------------
def test_leaf_apply_twice() -> None:
    state = State(LEAF)
    state.apply("default", {"numeric": 1, "string": "string"})
    state.apply("default", {"numeric": 2, "string": "string", "bool": False})
    assert state.live == {"numeric": 2, "string": "string", "bool": False}
    assert state.owners() == {"default": [".bool", ".numeric", ".string"]}


def test_leaf_apply_twice_different_versions() -> None:
    # An applier's entry does not depend on the version it applied with; it records the last.
    state = State(LEAF)
    state.apply("default", {"numeric": 1, "string": "string"}, api_version="v1")
    state.apply("default", {"numeric": 2, "string": "string", "bool": False}, api_version="v2")
    assert state.owners() == {"default": [".bool", ".numeric", ".string"]}
    assert state.entry("default").api_version == "v2"


def test_leaf_apply_update_apply_no_conflict() -> None:
    state = State(LEAF)
    state.apply("default", {"numeric": 1, "string": "string"})
    state.update("controller", {"numeric": 1, "string": "string", "bool": True})
    state.apply("default", {"numeric": 2, "string": "string"})
    assert state.live == {"numeric": 2, "string": "string", "bool": True}
    assert state.owners() == {"default": [".numeric", ".string"], "controller": [".bool"]}


def test_leaf_apply_update_apply_with_conflict() -> None:
    state = State(LEAF)
    state.apply("default", {"numeric": 1, "string": "string"})
    state.update("controller", {"numeric": 1, "string": "controller string", "bool": True})
    config = {"numeric": 2, "string": "user string"}
    assert state.conflicts("default", config) == ["controller .string"]
    state.apply("default", config, force=True)
    assert state.live == {"numeric": 2, "string": "user string", "bool": True}
    assert state.owners() == {"default": [".numeric", ".string"], "controller": [".bool"]}


def test_leaf_apply_twice_remove() -> None:
    state = State(LEAF)
    state.apply("default", {"numeric": 1, "string": "string", "bool": False})
    state.apply("default", {"string": "new string"})
    assert state.live == {"string": "new string"}
    assert state.owners() == {"default": [".string"]}


def test_leaf_update_apply_omits() -> None:
    # The controller took the applier's only field: the applier has nothing left to remove.
    state = State(LEAF)
    state.apply("default", {"numeric": 2})
    state.update("controller", {"numeric": 1})
    assert state.owners() == {"controller": [".numeric"]}
    state.apply("default", {})
    assert state.live == {"numeric": 1}
    assert state.owners() == {"controller": [".numeric"]}


def test_leaf_update_remove_empty_set() -> None:
    state = State(LEAF)
    state.apply("default", {"string": "string"})
    state.update("controller", {"string": "new string"})
    assert state.live == {"string": "new string"}
    assert state.owners() == {"controller": [".string"]}


def test_leaf_apply_remove_empty_set() -> None:
    state = State(LEAF)
    state.apply("default", {"string": "string"})
    state.apply("default", {})
    assert state.live == {}
    assert state.owners() == {}
    assert state.managed.encode() is None


# -- sets (merge/set_test.go) --------------------------------------------------------------------
def test_set_apply_update_apply_with_overlap() -> None:
    state = State(SETS)
    state.apply("default", {"list": ["a", "c"]})
    state.update("controller", {"list": ["a", "b", "c", "d"]})
    state.apply("default", {"list": ["a", "b", "c"]})
    assert state.live == {"list": ["a", "b", "c", "d"]}
    assert state.owners() == {
        "default": ['.list[="a"]', '.list[="b"]', '.list[="c"]'],
        "controller": ['.list[="b"]', '.list[="d"]'],
    }


def test_set_apply_twice_reorder() -> None:
    state = State(SETS)
    state.apply("default", {"list": ["a", "b", "c", "d"]})
    state.apply("default", {"list": ["a", "d", "c", "b"]})
    assert state.live == {"list": ["a", "d", "c", "b"]}
    assert state.owners() == {
        "default": ['.list[="a"]', '.list[="b"]', '.list[="c"]', '.list[="d"]']
    }


def test_set_apply_update_apply_reorder() -> None:
    # Reordering a set changes no field: the controller owns nothing.
    state = State(SETS)
    state.apply("default", {"list": ["a", "b", "c", "d"]})
    state.update("controller", {"list": ["a", "d", "c", "b"]})
    assert state.owners() == {
        "default": ['.list[="a"]', '.list[="b"]', '.list[="c"]', '.list[="d"]']
    }
    state.apply("default", {"list": ["a", "b", "c", "d"]})
    assert state.live == {"list": ["a", "b", "c", "d"]}


def test_set_apply_twice_remove() -> None:
    state = State(SETS)
    state.apply("default", {"list": ["a", "b", "c", "d"]})
    state.apply("default", {"list": ["a", "c"]})
    assert state.live == {"list": ["a", "c"]}
    assert state.owners() == {"default": ['.list[="a"]', '.list[="c"]']}


# -- associative lists (key_test.go, multiple_appliers_test.go TestMultipleAppliersSet) ----------
def test_removing_obsolete_applied_structs() -> None:
    state = State(ASSOCIATIVE)
    state.apply("default", {"list": [{"name": "a", "value": 1}]})
    state.apply("default", {"list": [{"name": "b", "value": 2}]})
    assert state.live == {"list": [{"name": "b", "value": 2}]}
    assert state.owners() == {
        "default": ['.list[name="b"]', '.list[name="b"].name', '.list[name="b"].value']
    }


def test_multiple_appliers_remove_one() -> None:
    state = State(ASSOCIATIVE)
    state.apply("apply-one", {"list": [{"name": "a"}, {"name": "b"}]})
    state.apply("apply-two", {"list": [{"name": "c"}]}, api_version="v2")
    state.apply("apply-one", {"list": [{"name": "a"}]}, api_version="v3")
    assert state.live == {"list": [{"name": "a"}, {"name": "c"}]}
    assert state.owners() == {
        "apply-one": ['.list[name="a"]', '.list[name="a"].name'],
        "apply-two": ['.list[name="c"]', '.list[name="c"].name'],
    }


def test_multiple_appliers_same_value_no_conflict() -> None:
    state = State(ASSOCIATIVE)
    state.apply("apply-one", {"list": [{"name": "a", "value": 0}]})
    state.apply("apply-two", {"list": [{"name": "a", "value": 0}]}, api_version="v2")
    assert state.live == {"list": [{"name": "a", "value": 0}]}
    shared = ['.list[name="a"]', '.list[name="a"].name', '.list[name="a"].value']
    assert state.owners() == {"apply-one": shared, "apply-two": shared}


def test_multiple_appliers_change_value_yes_conflict() -> None:
    state = State(ASSOCIATIVE)
    state.apply("apply-one", {"list": [{"name": "a", "value": 0}]})
    assert state.conflicts("apply-two", {"list": [{"name": "a", "value": 1}]}) == [
        'apply-one .list[name="a"].value'
    ]
    assert state.live == {"list": [{"name": "a", "value": 0}]}
    assert list(state.owners()) == ["apply-one"]


def test_multiple_appliers_remove_one_keep_one() -> None:
    state = State(ASSOCIATIVE)
    state.apply("apply-one", {"list": [{"name": "a"}, {"name": "b"}, {"name": "c"}]})
    state.apply("apply-two", {"list": [{"name": "c"}, {"name": "d"}]})
    state.apply("apply-one", {"list": [{"name": "a"}]})
    assert state.live == {"list": [{"name": "a"}, {"name": "c"}, {"name": "d"}]}
    assert state.owners() == {
        "apply-one": ['.list[name="a"]', '.list[name="a"].name'],
        "apply-two": [
            '.list[name="c"]',
            '.list[name="c"].name',
            '.list[name="d"]',
            '.list[name="d"].name',
        ],
    }


# -- unsetting fields (multiple_appliers_test.go TestMultipleAppliersFieldUnsetting) -------------
def test_unset_scalar_sole_owner() -> None:
    state = State(STRUCT)
    state.apply("apply-one", {"struct": {"name": "a", "scalarField": "a"}})
    state.apply("apply-one", {"struct": {"name": "a"}})
    assert state.live == {"struct": {"name": "a"}}
    assert state.owners() == {"apply-one": [".struct.name"]}


def test_unset_scalar_shared_with_applier() -> None:
    state = State(STRUCT)
    state.apply("apply-one", {"struct": {"name": "a", "scalarField": "a"}})
    state.apply("apply-two", {"struct": {"scalarField": "a"}})
    state.apply("apply-one", {"struct": {"name": "a"}})
    assert state.live == {"struct": {"name": "a", "scalarField": "a"}}
    assert state.owners() == {"apply-one": [".struct.name"], "apply-two": [".struct.scalarField"]}


def test_unset_scalar_shared_with_updater() -> None:
    state = State(STRUCT)
    state.update("updater", {"struct": {"name": "a", "scalarField": "a"}})
    state.apply("applier", {"struct": {"name": "a", "scalarField": "a"}})
    state.apply("applier", {"struct": {"name": "a"}})
    assert state.live == {"struct": {"name": "a", "scalarField": "a"}}
    assert state.owners() == {
        "updater": [".struct", ".struct.name", ".struct.scalarField"],
        "applier": [".struct.name"],
    }


def test_updater_claims_field() -> None:
    state = State(STRUCT)
    state.apply("applier", {"struct": {"name": "a", "scalarField": "a"}})
    state.update("updater", {"struct": {"name": "a", "scalarField": "b"}})
    assert state.live == {"struct": {"name": "a", "scalarField": "b"}}
    assert state.owners() == {"applier": [".struct.name"], "updater": [".struct.scalarField"]}


def test_unset_complex_sole_owner() -> None:
    state = State(STRUCT)
    state.apply("apply-one", {"struct": {"name": "a", "complexField": {"name": "b"}}})
    state.apply("apply-one", {"struct": {"name": "a"}})
    assert state.live == {"struct": {"name": "a"}}
    assert state.owners() == {"apply-one": [".struct.name"]}


def test_unset_complex_shared_with_applier() -> None:
    state = State(STRUCT)
    state.apply("apply-one", {"struct": {"name": "a", "complexField": {"name": "b"}}})
    state.apply("apply-two", {"struct": {"complexField": {"name": "b"}}})
    state.apply("apply-one", {"struct": {"name": "a"}})
    assert state.live == {"struct": {"name": "a", "complexField": {"name": "b"}}}
    assert state.owners() == {
        "apply-one": [".struct.name"],
        "apply-two": [".struct.complexField.name"],
    }


# -- nested types (multiple_appliers_test.go TestMultipleAppliersNestedType, nested_test.go) ----
A = '.listOfLists[name="a"]'
B = '.listOfLists[name="b"]'


def test_remove_one_keep_one_with_two_sub_items() -> None:
    state = State(NESTED)
    state.apply("apply-one", {"listOfLists": [{"name": "a"}, {"name": "b", "value": ["c"]}]})
    state.apply("apply-two", {"listOfLists": [{"name": "b", "value": ["d"]}]})
    state.apply("apply-one", {"listOfLists": [{"name": "a"}]})
    assert state.live == {"listOfLists": [{"name": "a"}, {"name": "b", "value": ["d"]}]}
    assert state.owners() == {
        "apply-one": [A, A + ".name"],
        "apply-two": [B, B + ".name", B + '.value[="d"]'],
    }


def test_remove_one_keep_one_with_dangling_subitem() -> None:
    state = State(NESTED)
    state.apply("apply-one", {"listOfLists": [{"name": "a"}, {"name": "b", "value": ["c"]}]})
    state.apply("apply-two", {"listOfLists": [{"name": "b", "value": ["d"]}]})
    state.update(
        "controller",
        {"listOfLists": [{"name": "a"}, {"name": "b", "value": ["c", "d", "e"]}]},
    )
    state.apply("apply-one", {"listOfLists": [{"name": "a"}]})
    assert state.live == {"listOfLists": [{"name": "a"}, {"name": "b", "value": ["d", "e"]}]}
    assert state.owners() == {
        "apply-one": [A, A + ".name"],
        "apply-two": [B, B + ".name", B + '.value[="d"]'],
        "controller": [B + '.value[="e"]'],
    }


def test_remove_one_with_dangling_subitem_keep_one() -> None:
    # Item b goes although the controller owns a value inside it: nobody owns b itself.
    state = State(NESTED)
    state.apply("apply-one", {"listOfLists": [{"name": "a"}, {"name": "b", "value": ["c"]}]})
    state.apply("apply-two", {"listOfLists": [{"name": "a", "value": ["b"]}]})
    state.update(
        "controller",
        {"listOfLists": [{"name": "a", "value": ["b"]}, {"name": "b", "value": ["c", "d"]}]},
    )
    assert state.owners()["controller"] == [B + '.value[="d"]']
    state.apply("apply-one", {"listOfLists": [{"name": "a"}]})
    assert state.live == {"listOfLists": [{"name": "a", "value": ["b"]}]}
    assert state.owners() == {
        "apply-one": [A, A + ".name"],
        "apply-two": [A, A + ".name", A + '.value[="b"]'],
    }


def test_remove_one_keep_one_with_sub_item() -> None:
    state = State(NESTED)
    state.apply("apply-one", {"listOfLists": [{"name": "a"}, {"name": "b", "value": ["c"]}]})
    state.apply("apply-two", {"listOfLists": [{"name": "b", "value": ["d"]}]})
    state.apply("apply-one", {"listOfLists": [{"name": "a"}]})
    assert state.live == {"listOfLists": [{"name": "a"}, {"name": "b", "value": ["d"]}]}


# Upstream writes the innermost maps of the next scenarios as nulls (`b:`); we store no nulls,
# so they are empty maps here (an applied null on an empty map would replace it, a change).
def test_multiple_appliers_recursive_map() -> None:
    state = State(NESTED)
    m = "mapOfMapsRecursive"
    state.apply("apply-one", {m: {"a": {"b": {}}, "c": {"d": {}}}})
    state.apply("apply-two", {m: {"a": None, "c": {"d": {}}}}, api_version="v2")
    state.update("controller-one", {m: {"a": {"b": {"c": {}}}, "c": {"d": {"e": {}}}}})
    state.update(
        "controller-two",
        {m: {"a": {"b": {"c": {"d": {}}}}, "c": {"d": {"e": {"f": {}}}}}},
        api_version="v2",
    )
    state.update(
        "controller-one",
        {m: {"a": {"b": {"c": {"d": {"e": {}}}}}, "c": {"d": {"e": {"f": {"g": {}}}}}}},
    )
    state.apply("apply-one", {m: None}, api_version="v4")
    # a.b goes whole although controllers own paths below it; upstream leaves "a" null, we
    # keep the emptied map another manager owns as {}.
    assert state.live == {m: {"a": {}, "c": {"d": {"e": {"f": {"g": {}}}}}}}
    assert state.owners() == {
        "apply-one": [".mapOfMapsRecursive"],
        "apply-two": [".mapOfMapsRecursive.a", ".mapOfMapsRecursive.c", ".mapOfMapsRecursive.c.d"],
        "controller-one": [".mapOfMapsRecursive.c.d.e", ".mapOfMapsRecursive.c.d.e.f.g"],
        "controller-two": [".mapOfMapsRecursive.c.d.e.f"],
    }


def test_multiple_appliers_recursive_map_deduced() -> None:
    state = State(UNTYPED)
    state.apply("apply-one", {"a": {"b": {}}, "c": {"d": {}}})
    state.apply("apply-two", {"a": None, "c": {"d": {}}})
    state.update("controller-one", {"a": {"b": {"c": {}}}, "c": {"d": {"e": {}}}})
    state.update("controller-two", {"a": {"b": {"c": {"d": {}}}}, "c": {"d": {"e": {"f": {}}}}})
    state.update(
        "controller-one",
        {"a": {"b": {"c": {"d": {"e": {}}}}}, "c": {"d": {"e": {"f": {"g": {}}}}}},
    )
    state.apply("apply-one", {})
    assert state.live == {"a": {}, "c": {"d": {"e": {"f": {"g": {}}}}}}
    assert state.owners() == {
        "apply-two": [".a", ".c", ".c.d"],
        "controller-one": [".c.d.e", ".c.d.e.f.g"],
        "controller-two": [".c.d.e.f"],
    }


def test_list_of_lists_change_value() -> None:
    state = State(NESTED)
    state.apply("default", {"listOfLists": [{"name": "a", "value": ["b", "c"]}]})
    state.apply("default", {"listOfLists": [{"name": "a", "value": ["a", "c"]}]})
    assert state.live == {"listOfLists": [{"name": "a", "value": ["a", "c"]}]}
    assert state.owners() == {"default": [A, A + ".name", A + '.value[="a"]', A + '.value[="c"]']}


def test_list_of_maps_change_key_and_value() -> None:
    state = State(NESTED)
    state.apply("default", {"listOfMaps": [{"name": "a", "value": {"b": "x"}}]})
    state.apply("default", {"listOfMaps": [{"name": "b", "value": {"a": "y"}}]})
    assert state.live == {"listOfMaps": [{"name": "b", "value": {"a": "y"}}]}
    item = '.listOfMaps[name="b"]'
    assert state.owners() == {"default": [item, item + ".name", item + ".value.a"]}


def test_map_of_maps_recursive_change_middle_key() -> None:
    state = State(NESTED)
    m = "mapOfMapsRecursive"
    state.apply("default", {m: {"a": {"b": {"c": {}}}}})
    state.apply("default", {m: {"a": {"d": {"c": {}}}}})
    assert state.live == {m: {"a": {"d": {"c": {}}}}}
    assert state.owners() == {
        "default": [
            ".mapOfMapsRecursive.a",
            ".mapOfMapsRecursive.a.d",
            ".mapOfMapsRecursive.a.d.c",
        ]
    }


def test_struct_apply_remove_all() -> None:
    state = State(NESTED)
    state.apply("default", {"struct": {"name": "a", "value": 1}})
    state.apply("default", {})
    assert state.live == {}
    assert state.owners() == {}


def test_struct_apply_remove_dangling() -> None:
    state = State(NESTED)
    state.apply("default", {"struct": {"name": "a"}})
    state.apply("default", {"struct": None})
    # Upstream's object keeps `struct: null`; ours has no null fields.
    assert state.live == {}
    assert state.owners() == {"default": [".struct"]}


@pytest.mark.parametrize("last", [{}, {"struct": {}}, {"struct": None}])
def test_struct_apply_update_remove(last: dict[str, Any]) -> None:
    # nested_test.go struct_apply_update_remove_all, _dict_dangling and _dict_null.
    state = State(NESTED)
    state.apply("default", {"struct": {"name": "a"}})
    state.update("controller", {"struct": {"name": "a", "value": 1}})
    state.apply("default", last)
    assert state.live == {"struct": {"value": 1}}
    assert state.owners()["controller"] == [".struct.value"]


def test_struct_apply_update_took_over() -> None:
    state = State(NESTED)
    state.apply("default", {"struct": {"name": "a"}})
    state.update("controller", {"struct": {"name": "b", "value": 1}})
    state.apply("default", {"struct": None})
    assert state.live == {"struct": {"name": "b", "value": 1}}
    assert state.owners() == {
        "controller": [".struct.name", ".struct.value"],
        "default": [".struct"],
    }


# -- default keys (merge/default_keys_test.go) ---------------------------------------------------
def test_apply_missing_defaulted_key() -> None:
    state = State(PORTS)
    state.apply("default", {"containerPorts": [{"port": 80}, {"port": 80, "protocol": "UDP"}]})
    tcp = '.containerPorts[port=80,protocol="TCP"]'
    udp = '.containerPorts[port=80,protocol="UDP"]'
    assert state.owners() == {
        "default": [tcp, tcp + ".port", udp, udp + ".port", udp + ".protocol"]
    }


def test_apply_missing_defaulted_key_with_conflict() -> None:
    state = State(PORTS)
    state.apply("apply-one", {"containerPorts": [{"port": 80, "protocol": "TCP", "name": "foo"}]})
    assert state.conflicts("apply-two", {"containerPorts": [{"port": 80, "name": "bar"}]}) == [
        'apply-one .containerPorts[port=80,protocol="TCP"].name'
    ]
    tcp = '.containerPorts[port=80,protocol="TCP"]'
    assert state.live == {"containerPorts": [{"port": 80, "protocol": "TCP", "name": "foo"}]}
    assert state.owners() == {"apply-one": [tcp, tcp + ".name", tcp + ".port", tcp + ".protocol"]}


# -- duplicates (merge/duplicates_test.go) -------------------------------------------------------
def test_sets_ownership_duplicates() -> None:
    state = State(DUPLICATES)
    state.update("updater-one", {"set": [1, 1, 3, 4]})
    assert state.owners() == {"updater-one": [".set", ".set[=1]", ".set[=3]", ".set[=4]"]}


def test_sets_ownership_add_duplicate() -> None:
    state = State(DUPLICATES)
    state.update("updater-one", {"set": [1, 3, 4]})
    state.update("updater-two", {"set": [1, 1, 3, 4]})
    assert state.owners() == {
        "updater-one": [".set", ".set[=3]", ".set[=4]"],
        "updater-two": [".set[=1]"],
    }


def test_sets_ownership_remove_duplicate() -> None:
    state = State(DUPLICATES)
    state.update("updater-one", {"set": [1, 1, 3, 4]})
    state.update("updater-two", {"set": [1, 3, 4]})
    assert state.owners() == {
        "updater-one": [".set", ".set[=3]", ".set[=4]"],
        "updater-two": [".set[=1]"],
    }


def test_sets_merging_remove_duplicate() -> None:
    state = State(DUPLICATES)
    state.update("updater", {"set": [1, 1, 3, 4]})
    assert state.conflicts("applier", {"set": [1]}) == ["updater .set[=1]"]
    state.apply("applier", {"set": [1]}, force=True)
    assert state.live == {"set": [1, 3, 4]}
    assert state.owners() == {
        "updater": [".set", ".set[=3]", ".set[=4]"],
        "applier": [".set[=1]"],
    }


def test_sets_merging_ignore_duplicate() -> None:
    state = State(DUPLICATES)
    state.update("updater", {"set": [1, 1, 3, 4]})
    state.apply("applier", {"set": [5]})
    assert state.live == {"set": [1, 1, 3, 4, 5]}
    assert state.owners() == {
        "updater": [".set", ".set[=1]", ".set[=3]", ".set[=4]"],
        "applier": [".set[=5]"],
    }


def test_list_ownership_duplicated_items() -> None:
    state = State(DUPLICATES)
    items = [{"name": "a", "value1": 1}, {"name": "a", "value1": 2}, {"name": "b", "value1": 3}]
    state.update("updater", {"list": items})
    assert state.owners() == {
        "updater": [
            ".list",
            '.list[name="a"]',
            '.list[name="b"]',
            '.list[name="b"].name',
            '.list[name="b"].value1',
        ]
    }


def test_list_ownership_change_duplicated_items() -> None:
    state = State(DUPLICATES)
    state.update(
        "updater-one",
        {
            "list": [
                {"name": "a", "value1": 1},
                {"name": "a", "value1": 2},
                {"name": "b", "value1": 3},
            ]
        },
    )
    state.update(
        "updater-two",
        {
            "list": [
                {"name": "a", "value1": 1},
                {"name": "a", "value1": 3},
                {"name": "b", "value1": 3},
            ]
        },
    )
    assert state.owners() == {
        "updater-one": [
            ".list",
            '.list[name="b"]',
            '.list[name="b"].name',
            '.list[name="b"].value1',
        ],
        "updater-two": ['.list[name="a"]'],
    }


# -- ignored fields (merge/ignore_test.go) -------------------------------------------------------
IGNORE_STRING = FieldSet()
IGNORE_STRING.insert(("f:string",))
IGNORE_OBJ = FieldSet()
IGNORE_OBJ.insert(("f:obj",))


def test_update_does_not_own_ignored() -> None:
    state = State(LEAF, IGNORE_STRING)
    state.update("default", {"numeric": 1, "string": "some string"})
    assert state.owners() == {"default": [".numeric"]}


def test_update_does_not_own_deep_ignored() -> None:
    state = State(UNTYPED, IGNORE_OBJ)
    state.update("default", {"numeric": 1, "obj": {"string": "foo", "numeric": 2}})
    assert state.owners() == {"default": [".numeric"]}


def test_apply_does_not_own_ignored() -> None:
    state = State(LEAF, IGNORE_STRING)
    state.apply("default", {"numeric": 1, "string": "some string"})
    assert state.live == {"numeric": 1, "string": "some string"}
    assert state.owners() == {"default": [".numeric"]}


def test_apply_does_not_own_deep_ignored() -> None:
    state = State(UNTYPED, IGNORE_OBJ)
    state.apply("default", {"numeric": 1, "obj": {"string": "foo", "numeric": 2}})
    assert state.live == {"numeric": 1, "obj": {"string": "foo", "numeric": 2}}
    assert state.owners() == {"default": [".numeric"]}


def test_ignored_fields_do_not_conflict() -> None:
    state = State(LEAF, IGNORE_STRING)
    state.update("controller", {"numeric": 1, "string": "a"})
    state.apply("default", {"numeric": 1, "string": "b"})
    assert state.owners() == {"controller": [".numeric"], "default": [".numeric"]}


# -- Update: ownership ---------------------------------------------------------------------------
def test_update_transfers_ownership_of_changed_fields() -> None:
    state = State(UNTYPED)
    state.update("a", {"spec": {"x": 1, "y": 2}})
    state.update("b", {"spec": {"x": 10, "y": 2, "z": 3}})
    assert state.owners() == {"a": [".spec", ".spec.y"], "b": [".spec.x", ".spec.z"]}
    # Changing everything a owns leaves a with nothing: its entry goes.
    state.update("b", {"spec": {"x": 10, "y": 20, "z": 3}})
    state.update("b", {"other": 1})
    assert state.owners() == {"b": [".other"]}


def test_update_drops_removed_fields_from_every_owner() -> None:
    state = State(UNTYPED)
    state.update("a", {"spec": {"x": 1}})
    state.update("b", {"spec": {"x": 1, "y": 2}})
    state.update("c", {"spec": {}, "other": 1})
    assert state.owners() == {"a": [".spec"], "c": [".other"]}


def test_update_by_the_same_manager_keeps_its_other_fields() -> None:
    state = State(UNTYPED)
    state.update("a", {"x": 1, "y": 2})
    state.update("a", {"x": 1, "y": 3, "z": 4})
    assert state.owners() == {"a": [".x", ".y", ".z"]}


def test_updates_are_told_apart_by_version_and_subresource() -> None:
    state = State(UNTYPED)
    state.update("a", {"spec": {"x": 1}}, api_version="v1")
    state.update("a", {"spec": {"x": 1, "y": 2}}, api_version="v2")
    state.update("a", {"spec": {"x": 1, "y": 2}, "status": {"s": 1}}, subresource="status")
    described = sorted(e.describe() for e in state.managed.entries.values())
    assert described == ['"a" using v1', '"a" using v2', '"a" with subresource "status" using v1']


def test_metadata_that_nobody_owns() -> None:
    # upstream's stripMetaManager: identity and bookkeeping fields are never owned.
    state = State(POD)
    state.update(
        "kubectl",
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "web",
                "namespace": "default",
                "uid": "u",
                "resourceVersion": "1",
                "generation": 1,
                "creationTimestamp": "2024-01-01T00:00:00Z",
                "labels": {"app": "web"},
            },
            "spec": {"replicas": 1},
        },
    )
    assert state.owners() == {
        "kubectl": [".metadata.labels", ".metadata.labels.app", ".spec", ".spec.replicas"]
    }
    assert state.managed.encode() == [
        {
            "manager": "kubectl",
            "operation": "Update",
            "apiVersion": "v1",
            "time": "2024-05-06T07:08:01Z",
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                "f:spec": {".": {}, "f:replicas": {}},
            },
        }
    ]


# -- timestamps (managedfieldsupdater_test.go) ---------------------------------------------------
def test_update_without_changes_does_not_modify_time() -> None:
    state = State(UNTYPED)
    state.update("a", {"x": 1})
    before = state.entry("a").time
    state.update("a", {"x": 1})
    assert state.entry("a").time == before
    state.update("a", {"x": 2})
    assert state.entry("a").time != before


def test_non_managed_fields_update_does_not_modify_time() -> None:
    state = State(UNTYPED)
    state.update("a", {"data": {"key_a": "value"}})
    state.update("b", {"data": {"key_a": "value", "key_b": "value"}})
    before = state.entry("a").time
    state.update("a", {"data": {"key_a": "value", "key_b": "new-value"}})
    # a took b's only field: b is gone, and a's time moved.
    assert list(state.owners()) == ["a"]
    assert state.entry("a").time != before


def test_taking_over_fields_does_not_modify_the_previous_managers_time() -> None:
    state = State(UNTYPED)
    state.update("a", {"data": {"key_a": "value", "key_b": "value"}})
    before = state.entry("a").time
    state.update("b", {"data": {"key_a": "value", "key_b": "new-value"}})
    assert state.entry("a").time == before
    assert state.owners()["a"] == [".data", ".data.key_a"]


def test_apply_times() -> None:
    state = State(UNTYPED)
    state.apply("a", {"data": {"key_a": "value"}})
    state.apply("b", {"data": {"key_b": "value"}})
    a_time, b_time = state.entry("a").time, state.entry("b").time
    assert a_time is not None
    assert b_time is not None
    # Re-applying without changes keeps the time (and everything else).
    live, encoded = copy.deepcopy(state.live), state.managed.encode()
    state.apply("a", {"data": {"key_a": "value"}})
    assert state.live == live
    assert state.managed.encode() == encoded
    # Changing its own field moves the applier's time only.
    state.apply("a", {"data": {"key_a": "new-value"}})
    assert state.entry("a").time != a_time
    assert state.entry("b").time == b_time


def test_first_apply_that_changes_nothing_sets_no_time() -> None:
    # Upstream sets an applier's time only when its apply changed the object.
    state = State(UNTYPED)
    state.update("writer", {"data": {"k": "v"}})
    state.apply("applier", {"data": {"k": "v"}})
    assert state.entry("applier").time is None
    # (untyped map entries are members themselves)
    assert state.owners()["applier"] == [".data", ".data.k"]
    encoded = state.managed.encode()
    assert encoded is not None
    assert "time" not in encoded[0]


# -- Apply ---------------------------------------------------------------------------------------
def test_apply_creates_and_reapply_is_idempotent() -> None:
    state = State(POD)
    config = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "nginx", "ports": [{"containerPort": 80}]}]},
    }
    state.apply("kubectl", config)
    assert state.live == config
    container = '.spec.containers[name="c"]'
    port = container + '.ports[containerPort=80,protocol="TCP"]'
    assert state.owners() == {
        "kubectl": [
            ".metadata.labels.app",
            container,
            container + ".image",
            container + ".name",
            port,
            port + ".containerPort",
        ]
    }
    live, encoded = copy.deepcopy(state.live), state.managed.encode()
    state.apply("kubectl", config)
    assert state.live == live
    assert state.managed.encode() == encoded


def test_apply_leaves_fields_it_never_set() -> None:
    state = State(UNTYPED)
    state.update("controller", {"spec": {"replicas": 3}, "status": {"ready": 1}})
    state.apply("applier", {"spec": {"image": "x"}})
    assert state.live == {"spec": {"replicas": 3, "image": "x"}, "status": {"ready": 1}}


def test_apply_force_takes_ownership() -> None:
    state = State(UNTYPED)
    state.update("controller", {"spec": {"replicas": 3, "paused": False}})
    assert state.conflicts("applier", {"spec": {"replicas": 5, "paused": False}}) == [
        "controller .spec.replicas"
    ]
    state.apply("applier", {"spec": {"replicas": 5, "paused": False}}, force=True)
    assert state.live == {"spec": {"replicas": 5, "paused": False}}
    assert state.owners() == {
        "controller": [".spec", ".spec.paused"],
        "applier": [".spec", ".spec.paused", ".spec.replicas"],
    }


def test_fields_dropped_from_the_config_are_removed_unless_owned_elsewhere() -> None:
    state = State(UNTYPED)
    state.apply("applier", {"spec": {"a": 1, "b": 2, "c": 3}})
    state.apply("other", {"spec": {"b": 2}})
    state.update("controller", {"spec": {"a": 1, "b": 2, "c": 30}})
    state.apply("applier", {"spec": {}})
    # a: only the applier's, removed; b: shared with another applier; c: the controller's.
    assert state.live == {"spec": {"b": 2, "c": 30}}
    assert state.owners() == {
        "applier": [".spec"],
        "other": [".spec", ".spec.b"],
        "controller": [".spec.c"],
    }


def test_applied_null_conflicts_with_the_fields_owner() -> None:
    # Upstream's merge sets the field to null: a change of a field another manager owns.
    state = State(UNTYPED)
    state.update("controller", {"spec": {"replicas": 3}})
    assert state.conflicts("applier", {"spec": {"replicas": None}}) == ["controller .spec.replicas"]
    state.apply("applier", {"spec": {"replicas": None}}, force=True)
    assert state.live == {"spec": {}}
    assert state.owners() == {"controller": [".spec"], "applier": [".spec", ".spec.replicas"]}


def test_apply_conflicts_leave_everything_as_it_was() -> None:
    state = State(UNTYPED)
    state.update("controller", {"a": 1, "b": 1})
    state.apply("applier", {"c": 1})
    entries = copy.deepcopy(state.managed.entries)
    with pytest.raises(ApplyConflict):
        state.apply("applier", {"a": 2})
    assert state.managed.entries == entries


def test_before_first_apply() -> None:
    # fieldmanager_test.go TestUpdateBeforeFirstApply: fields of an object nobody manages yet
    # belong to "before-first-apply", which the first applier conflicts with.
    state = State(POD)
    state.live = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "pod", "labels": {"app": "my-nginx"}},
    }
    config = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "pod", "labels": {"app": "nginx"}},
        "spec": {"containers": [{"name": "nginx", "image": "nginx:latest"}]},
    }
    with pytest.raises(ApplyConflict) as caught:
        state.apply("fieldmanager_test_apply", config)
    assert [(c.entry.manager, path_string(c.path)) for c in caught.value.conflicts] == [
        ("before-first-apply", ".metadata.labels.app")
    ]
    assert caught.value.message == (
        'Apply failed with 1 conflict: conflict with "before-first-apply" using v1: '
        ".metadata.labels.app"
    )
    # Nothing was recorded by the refused apply.
    assert state.managed.entries == {}
    state.apply("fieldmanager_test_apply", config, force=True)
    encoded = state.managed.encode()
    assert encoded is not None
    assert [e["manager"] for e in encoded] == ["fieldmanager_test_apply", "before-first-apply"]
    assert state.owners()["before-first-apply"] == [".metadata.labels"]


def test_before_first_apply_takes_the_appliers_subresource() -> None:
    state = State(UNTYPED)
    state.live = {"status": {"a": 1}}
    state.apply("applier", {"status": {"b": 2}}, subresource="status")
    before = state.entry("before-first-apply")
    assert before.operation == UPDATE
    assert before.subresource == "status"
    assert state.entry("applier").operation == APPLY


def test_an_update_after_an_apply_owns_only_what_it_added() -> None:
    state = State(UNTYPED)
    state.apply("applier", {"a": 1})
    state.update("writer", {"a": 1, "b": 2})
    assert state.owners() == {"applier": [".a"], "writer": [".b"]}


# -- conflict messages (apimachinery internal/conflict.go) ---------------------------------------
def conflict_state() -> State:
    state = State(UNTYPED)
    state.update("foo", {"spec": {"replicas": 1}, "metadata": {"labels": {}}})
    state.apply("bar", {"metadata": {"labels": {"app": "x"}}})
    return state


def test_one_conflict_message() -> None:
    state = State(UNTYPED)
    state.update("foo", {"spec": {"replicas": 1}})
    with pytest.raises(ApplyConflict) as caught:
        state.apply("applier", {"spec": {"replicas": 2}})
    conflict = caught.value
    assert conflict.message == (
        'Apply failed with 1 conflict: conflict with "foo" using v1: .spec.replicas'
    )
    assert str(conflict) == conflict.message
    assert conflict.causes() == [
        {
            "reason": "FieldManagerConflict",
            "message": 'conflict with "foo" using v1',
            "field": ".spec.replicas",
        }
    ]


def test_one_conflict_with_a_subresource_manager() -> None:
    state = State(UNTYPED)
    state.update("foo", {"spec": {"replicas": 1}}, subresource="scale")
    with pytest.raises(ApplyConflict) as caught:
        state.apply("applier", {"spec": {"replicas": 2}})
    assert caught.value.message == (
        'Apply failed with 1 conflict: conflict with "foo" with subresource "scale" using v1: '
        ".spec.replicas"
    )


def test_many_conflicts_message() -> None:
    state = conflict_state()
    with pytest.raises(ApplyConflict) as caught:
        state.apply("applier", {"spec": {"replicas": 2}, "metadata": {"labels": {"app": "y"}}})
    conflict = caught.value
    assert conflict.message == (
        "Apply failed with 2 conflicts: "
        'conflicts with "bar":\n'
        "- .metadata.labels.app\n"
        'conflicts with "foo" using v1:\n'
        "- .spec.replicas"
    )
    assert sorted(c["message"] for c in conflict.causes()) == [
        'conflict with "bar"',
        'conflict with "foo" using v1',
    ]


def test_conflicting_managers_are_sorted_by_identifier() -> None:
    # Upstream sorts the JSON identifiers: an Apply before an Update of the same name, the
    # Update of a subresource before the plain one ("}" > ","), "<" written as \u003c.
    def entry(manager: str, operation: str, subresource: str = "") -> Entry:
        return Entry(manager, operation, "v1", FieldSet(), subresource)

    path = ("f:spec", "f:x")
    conflict = ApplyConflict(
        [
            Conflict(entry("foo", UPDATE), path),
            Conflict(entry("foo", UPDATE, "status"), path),
            Conflict(entry("foo", APPLY), path),
            Conflict(entry("a<b", UPDATE), path),
            Conflict(entry("a=b", UPDATE), path),
        ]
    )
    headers = [line for line in conflict.message.split("\n") if not line.startswith("- ")]
    assert headers == [
        'Apply failed with 5 conflicts: conflicts with "a=b" using v1:',
        'conflicts with "a<b" using v1:',
        'conflicts with "foo":',
        'conflicts with "foo" with subresource "status" using v1:',
        'conflicts with "foo" using v1:',
    ]


def test_identifiers_as_upstream_builds_them() -> None:
    assert Entry("m", APPLY, "v1", FieldSet()).identifier() == '{"manager":"m","operation":"Apply"}'
    assert (
        Entry("m", UPDATE, "apps/v1", FieldSet(), "status").identifier()
        == '{"manager":"m","operation":"Update","apiVersion":"apps/v1","subresource":"status"}'
    )
    assert Entry("a&b", UPDATE, "v1", FieldSet()).identifier().startswith('{"manager":"a\\u0026b"')


def test_manager_names_are_quoted_as_go_does() -> None:
    assert Entry('say "hi"\\', UPDATE, "v1", FieldSet()).describe() == '"say \\"hi\\"\\\\" using v1'
    assert Entry("tab\there", APPLY, "v1", FieldSet()).describe() == '"tab\\there"'
    assert Entry("bell\x07\x01", APPLY, "v1", FieldSet()).describe() == '"bell\\a\\x01"'
    assert Entry("ünïcødé 🚀", APPLY, "v1", FieldSet()).describe() == '"ünïcødé 🚀"'


def test_paths_of_one_manager_are_listed_in_upstream_order() -> None:
    state = State(NESTED)
    state.update(
        "foo",
        {
            "listOfMaps": [{"name": "b"}, {"name": "a", "value": {"x": "1"}}],
            "struct": {"name": "s"},
        },
    )
    with pytest.raises(ApplyConflict) as caught:
        state.apply(
            "applier",
            {
                "listOfMaps": [
                    {"name": "b", "value": {"y": "2"}},
                    {"name": "a", "value": {"x": "2"}},
                ],
                "struct": {"name": "t"},
            },
        )
    assert caught.value.message.split("\n") == [
        'Apply failed with 2 conflicts: conflicts with "foo" using v1:',
        '- .listOfMaps[name="a"].value.x',
        "- .struct.name",
    ]


# -- decoding and encoding (apimachinery internal/managedfields.go) ------------------------------
def wire(**overrides: Any) -> dict[str, Any]:
    entry = {
        "manager": "m",
        "operation": "Update",
        "apiVersion": "v1",
        "time": "2024-01-01T00:00:00Z",
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:spec": {"f:x": {}}},
    }
    entry.update(overrides)
    return {k: v for k, v in entry.items() if v is not None}


@pytest.mark.parametrize(
    ("encoded", "message"),
    [
        ([wire(operation="Patch")], "operation must be `Apply` or `Update`"),
        ([wire(operation=None)], "operation must be `Apply` or `Update`"),
        ([wire(apiVersion="")], "apiVersion must not be empty"),
        ([wire(apiVersion=None)], "apiVersion must not be empty"),
        ([wire(), wire(fieldsType=None)], "missing fieldsType in managed fields entry 1"),
        ([wire(fieldsType="")], "missing fieldsType in managed fields entry 0"),
        ([wire(fieldsType="FieldsV2")], 'invalid fieldsType "FieldsV2" in managed fields entry 0'),
        ([wire(fieldsV1={"x:y": {}, "q": {}})], "error decoding set: "),
        ([wire(fieldsV1=[])], "error decoding set: "),
        ({"not": "a list"}, "managedFields must be a list"),
        (["not an object"], "managed fields entry 0 must be an object"),
    ],
)
def test_decode_errors(encoded: Any, message: str) -> None:
    with pytest.raises(ManagedFieldsError) as caught:
        ManagedFields.decode(encoded)
    assert str(caught.value).startswith(message)


def test_decode_and_encode_round_trip() -> None:
    encoded = [
        wire(manager="b", operation="Apply", time="2024-01-01T00:00:01Z"),
        wire(manager="a", operation="Update", subresource="status"),
        wire(manager="c", operation="Update", fieldsV1=None),
    ]
    managed = ManagedFields.decode(encoded)
    assert len(managed.entries) == 3
    assert managed.entries[("c", "Update", "", "v1")].fields.empty()
    # Entries owning nothing are not written.
    assert managed.encode() == [encoded[0], encoded[1]]
    assert ManagedFields.decode(None).encode() is None
    assert ManagedFields.decode([]).encode() is None


def test_decode_keeps_the_last_of_two_entries_with_one_identity() -> None:
    managed = ManagedFields.decode(
        [
            wire(manager="m", operation="Apply", apiVersion="v1", fieldsV1={"f:a": {}}),
            wire(manager="m", operation="Apply", apiVersion="v2", fieldsV1={"f:b": {}}),
        ]
    )
    (entry,) = managed.entries.values()
    assert entry.api_version == "v2"
    assert [path_string(p) for p in entry.fields.paths()] == [".b"]


def test_encode_sort_order() -> None:
    # Operation, then time (none first), then manager, apiVersion and subresource.
    spellings = [
        wire(manager="z", operation="Update", time="2024-01-01T00:00:00Z"),
        wire(manager="a", operation="Update", time="2024-01-01T00:00:05Z", apiVersion="v3"),
        wire(manager="a", operation="Update", time="2024-01-01T00:00:00Z", apiVersion="v2"),
        wire(manager="a", operation="Update", time="2024-01-01T00:00:00Z", subresource="status"),
        wire(manager="a", operation="Update", time="2024-01-01T00:00:00Z", apiVersion="v1"),
        wire(manager="b", operation="Apply", time="2024-01-01T00:00:09Z"),
        wire(manager="c", operation="Apply", time=None),
    ]
    encoded = ManagedFields.decode(spellings).encode()
    assert encoded is not None
    order = [
        (e["operation"], e["manager"], e["apiVersion"], e.get("subresource", "")) for e in encoded
    ]
    assert order == [
        ("Apply", "c", "v1", ""),
        ("Apply", "b", "v1", ""),
        ("Update", "a", "v1", ""),
        ("Update", "a", "v1", "status"),
        ("Update", "a", "v2", ""),
        ("Update", "z", "v1", ""),
        ("Update", "a", "v3", ""),
    ]


def test_encoded_entry_layout() -> None:
    entry = Entry("kubectl", UPDATE, "apps/v1", FieldSet(), "scale", "2024-01-01T00:00:00Z")
    entry.fields.insert(("f:spec", "f:replicas"))
    assert entry.to_json() == {
        "manager": "kubectl",
        "operation": "Update",
        "apiVersion": "apps/v1",
        "time": "2024-01-01T00:00:00Z",
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:spec": {"f:replicas": {}}},
        "subresource": "scale",
    }
    assert list(entry.to_json()) == [
        "manager",
        "operation",
        "apiVersion",
        "time",
        "fieldsType",
        "fieldsV1",
        "subresource",
    ]


def test_decoded_fields_match_computed_ones() -> None:
    # A key written with other spacing or key order by a client is the same element.
    managed = ManagedFields.decode(
        [
            wire(
                manager="old",
                fieldsV1={"f:list": {'k:{"name": "a"}': {".": {}, "f:value": {}}}},
            )
        ]
    )
    state = State(ASSOCIATIVE)
    state.live = {"list": [{"name": "a", "value": 1}]}
    state.managed = managed
    with pytest.raises(ApplyConflict) as caught:
        state.apply("new", {"list": [{"name": "a", "value": 2}]})
    assert [path_string(c.path) for c in caught.value.conflicts] == ['.list[name="a"].value']
    old = managed.entries[("old", "Update", "", "v1")]
    assert key_element({"name": "a"}) in old.fields.children["f:list"].children


# -- more upstream scenarios ---------------------------------------------------------------------
def test_preserve_unknown_fields() -> None:
    # merge/preserve_unknown_test.go: fields the schema does not know are owned like others.
    type_ = node({**struct(num=NUMBER), "x-kubernetes-preserve-unknown-fields": True})
    state = State(type_)
    state.apply("default", {"num": 5, "unknown": "value"})
    state.apply("default", {"num": 6, "unknown": "new"})
    assert state.live == {"num": 6, "unknown": "new"}
    assert state.owners() == {"default": [".num", ".unknown"]}


def test_multiple_appliers_atomic_map_force() -> None:
    # multiple_appliers_test.go TestMultipleApplierAtomicMaps.
    state = State(node(struct(atomicMap={**map_of(STRING), "x-kubernetes-map-type": "atomic"})))
    state.apply("apply-one", {"atomicMap": {"field1": "a"}})
    assert state.conflicts("apply-two", {"atomicMap": {"field2": "b"}}) == ["apply-one .atomicMap"]
    state.apply("apply-two", {"atomicMap": {"field2": "b"}}, force=True)
    assert state.live == {"atomicMap": {"field2": "b"}}
    assert state.owners() == {"apply-two": [".atomicMap"]}


@pytest.mark.xfail(
    strict=True,
    reason="upstream reconciles managed fields with a changed schema (ReconcileFieldSetWithSchema:"
    " granular fields of a struct that became atomic are owned as the struct); we do not",
)
def test_granular_to_atomic_schema_change() -> None:
    # merge/schema_change_test.go "to-atomic": fields recorded while the struct was granular.
    atomic = {**struct(numeric=NUMBER, string=STRING), "x-kubernetes-map-type": "atomic"}
    state = State(node(struct(struct=atomic)))
    state.live = {"struct": {"numeric": 1}}
    state.managed = ManagedFields.decode(
        [
            {
                "manager": "one",
                "operation": "Apply",
                "apiVersion": "v1",
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:struct": {"f:numeric": {}}},
            }
        ]
    )
    assert state.conflicts("two", {"struct": {"string": "string"}}) == ["one .struct"]


@pytest.mark.xfail(
    strict=True,
    reason="upstream refuses an applied configuration with two items of one key (default_keys_test"
    ".go apply_missing_defaulted_key_ambiguous); we merge it",
)
def test_applied_duplicate_keys_are_refused() -> None:
    state = State(PORTS)
    with pytest.raises(ValueError, match="duplicate"):
        state.apply("default", {"containerPorts": [{"port": 80}, {"port": 80, "protocol": "TCP"}]})
