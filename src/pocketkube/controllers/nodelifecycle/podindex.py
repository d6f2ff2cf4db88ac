"""The pods of a node, from the shared pod informer, by an index on ``spec.nodeName``."""

from __future__ import annotations

import contextlib

from pocketkube.client.informer import Informer
from pocketkube.client.rest import Obj
from pocketkube.client.store import Store

NODE_NAME_INDEX = "spec.nodeName"


def _node_name(pod: Obj) -> list[str]:
    node = (pod.get("spec") or {}).get("nodeName")
    return [str(node)] if node else []


def ensure_node_name_index(informer: Informer) -> None:
    """Index the informer's pods by node (once, however many controllers ask)."""
    # Another controller of this process may have added it already.
    with contextlib.suppress(ValueError):
        informer.add_indexer(NODE_NAME_INDEX, _node_name)


def pods_on_node(store: Store, node: str) -> list[Obj]:
    return store.by_index(NODE_NAME_INDEX, node)
