"""Store keys and indexers."""

from __future__ import annotations

from typing import Any

import pytest

from pocketkube.client import NAMESPACE_INDEX, Store, key_of, namespace_index, split_key


def obj(name: str, namespace: str | None = None, **labels: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": labels}
    if namespace:
        meta["namespace"] = namespace
    return {"metadata": meta}


def by_label(label: str) -> Any:
    return lambda o: [o["metadata"]["labels"][label]] if label in o["metadata"]["labels"] else []


@pytest.mark.parametrize(
    ("o", "key", "split"),
    [
        (obj("web", "default"), "default/web", ("default", "web")),
        (obj("node-1"), "node-1", (None, "node-1")),
        ({"metadata": {"name": "x", "namespace": ""}}, "x", (None, "x")),
    ],
)
def test_keys(o: dict[str, Any], key: str, split: tuple[str | None, str]) -> None:
    assert key_of(o) == key
    assert split_key(key) == split


def test_put_get_delete() -> None:
    store = Store()
    assert store.put(obj("a", "ns")) is None
    first = store.get("ns/a")
    assert first is not None
    replaced = store.put(obj("a", "ns", v="2"))
    assert replaced is first
    assert store.keys() == ["ns/a"]
    assert len(store) == 1
    assert "ns/a" in store
    assert store.delete("ns/a") is not None
    assert store.delete("ns/a") is None
    assert store.list() == []


def test_indexers_follow_updates_and_deletes() -> None:
    store = Store()
    store.add_indexer(NAMESPACE_INDEX, namespace_index)
    store.add_indexer("app", by_label("app"))
    store.put(obj("a", "ns1", app="web"))
    store.put(obj("b", "ns1", app="db"))
    store.put(obj("c", "ns2", app="web"))
    assert [key_of(o) for o in store.by_index("app", "web")] == ["ns1/a", "ns2/c"]
    assert store.index_keys(NAMESPACE_INDEX, "ns1") == {"ns1/a", "ns1/b"}
    store.put(obj("a", "ns1", app="db"))  # relabelled: moves between index values
    assert [key_of(o) for o in store.by_index("app", "web")] == ["ns2/c"]
    assert store.index_keys("app", "db") == {"ns1/a", "ns1/b"}
    store.delete("ns1/b")
    assert store.index_keys("app", "db") == {"ns1/a"}
    assert store.by_index("app", "nothing") == []


def test_an_indexer_added_late_indexes_what_is_there() -> None:
    store = Store()
    store.put(obj("a", "ns1", app="web"))
    store.add_indexer("app", by_label("app"))
    assert store.index_keys("app", "web") == {"ns1/a"}
    with pytest.raises(ValueError, match="already exists"):
        store.add_indexer("app", by_label("app"))
    with pytest.raises(KeyError):
        store.by_index("missing", "x")


def test_an_object_may_be_filed_under_several_values() -> None:
    store = Store()
    store.add_indexer("tags", lambda o: o["metadata"]["labels"].get("tags", "").split(","))
    store.put(obj("a", tags="x,y"))
    assert store.index_keys("tags", "x") == store.index_keys("tags", "y") == {"a"}
