"""Admission: what every create and update passes between decoding and the registry
(kube-apiserver's admission chain).

Each plugin is a small module with a ``NAME`` and a ``new(reader)`` factory, as upstream's
plugins; ``chain`` runs the mutating ones (which may change the object) and then the validating
ones (which may only refuse it), in upstream's order:

- NamespaceLifecycle: no creates in a missing (404) or terminating (403) namespace;
- ServiceAccount: a pod's service account defaults to ``default``;
- Priority: a pod's priority comes from its PriorityClass; one globalDefault class at most;
- DefaultTolerationSeconds: pods tolerate not-ready and unreachable nodes for 300 s.

Plugins read other objects through an ``ObjectReader`` (``reader.RegistryReader``: the watch
caches). Updates (PUT, PATCH and apply through the resource handler) are admitted with the
stored object beside the desired one (``Operation.UPDATE``), as upstream's.
"""

from pocketkube.apiserver.admission.chain import ORDER, PLUGINS, Chain, new_chain
from pocketkube.apiserver.admission.interface import (
    Attributes,
    MutationInterface,
    ObjectReader,
    Operation,
    ValidationInterface,
    forbidden,
)
from pocketkube.apiserver.admission.reader import MemoryReader, RegistryReader

__all__ = [
    "ORDER",
    "PLUGINS",
    "Attributes",
    "Chain",
    "MemoryReader",
    "MutationInterface",
    "ObjectReader",
    "Operation",
    "RegistryReader",
    "ValidationInterface",
    "forbidden",
    "new_chain",
]
