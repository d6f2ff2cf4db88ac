"""Patch metadata for strategic merge patch: which lists merge, by which key, and which maps retain.

Upstream reads this from Go struct tags (``patchStrategy:"merge" patchMergeKey:"name"``) in
k8s.io/api and k8s.io/apimachinery. We keep the same facts as a small tree of `FieldSchema`, one
per kind in `CORE_PATCH_SCHEMAS`. Only fields with a patch strategy need to be listed: any other
field behaves the default way (objects merge, lists are replaced, ``null`` deletes), which is also
what upstream does for a field without tags. Tolerations, readinessGates, envFrom and resizePolicy
carry no tag upstream and are therefore replaced as a whole.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from pocketkube.api.patch.errors import UnsupportedPatchTypeError

__all__ = [
    "APPLY_PATCH",
    "BUILTIN_PATCH_TYPES",
    "CORE_PATCH_SCHEMAS",
    "CUSTOM_RESOURCE_PATCH_TYPES",
    "GENERIC_BUILTIN_SCHEMA",
    "JSON_PATCH",
    "MERGE_PATCH",
    "OBJECT_META",
    "STRATEGIC_MERGE_PATCH",
    "FieldSchema",
    "PatchSchema",
    "schema_for_kind",
    "strategic_schema_for",
]

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
BUILTIN_PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, APPLY_PATCH)
# Custom resources are unstructured: no Go struct tags, hence no strategic merge; the apiserver
# answers 415 for them (apiextensions-apiserver's crd_handler.go lists only these).
CUSTOM_RESOURCE_PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, APPLY_PATCH)

Kind = Literal["object", "list", "map", "primitive"]


@dataclass(frozen=True, kw_only=True)
class FieldSchema:
    """Patch metadata of one field; ``items`` is the element (list) or value (map) schema."""

    kind: Kind = "object"
    fields: Mapping[str, FieldSchema] = field(default_factory=dict)
    items: FieldSchema | None = None
    merge_key: str | None = None
    strategy: str | None = None

    @property
    def strategies(self) -> frozenset[str]:
        return frozenset(s for s in (self.strategy or "").split(",") if s)

    @property
    def merges(self) -> bool:
        """A list whose elements merge (by ``merge_key``, or as a set of primitives)."""
        return "merge" in self.strategies

    @property
    def replaces(self) -> bool:
        """A map tagged ``patchStrategy:"replace"``: the patch value replaces it wholesale."""
        return "replace" in self.strategies

    @property
    def retains_keys(self) -> bool:
        return "retainKeys" in self.strategies

    def child(self, name: str) -> FieldSchema | None:
        """Schema of field ``name`` of this object (or of any value of this map)."""
        if self.kind == "map":
            return self.items
        return self.fields.get(name)

    def lookup(self, path: Sequence[str]) -> FieldSchema | None:
        """Schema at a path of field names; list elements are stepped into transparently."""
        node: FieldSchema | None = self
        for name in path:
            if node is not None and node.kind == "list":
                node = node.items
            node = node.child(name) if node is not None else None
        return node


PatchSchema = FieldSchema


def _obj(**fields: FieldSchema) -> FieldSchema:
    return FieldSchema(kind="object", fields=fields)


def _by(key: str, item: FieldSchema | None = None, strategy: str = "merge") -> FieldSchema:
    return FieldSchema(kind="list", items=item or _obj(), merge_key=key, strategy=strategy)


_MAP = FieldSchema(kind="map", items=FieldSchema(kind="primitive"))
_PRIMITIVE_SET = FieldSchema(kind="list", items=FieldSchema(kind="primitive"), strategy="merge")
_CONDITIONS = _by("type")

OBJECT_META = _obj(
    labels=_MAP,
    annotations=_MAP,
    finalizers=_PRIMITIVE_SET,
    ownerReferences=_by("uid"),
)

_CONTAINER = _obj(
    ports=_by("containerPort"),
    env=_by("name"),
    volumeMounts=_by("mountPath"),
    volumeDevices=_by("devicePath"),
    resources=_obj(limits=_MAP, requests=_MAP),
)

POD_SPEC = _obj(
    containers=_by("name", _CONTAINER),
    initContainers=_by("name", _CONTAINER),
    ephemeralContainers=_by("name", _CONTAINER),
    volumes=_by("name", strategy="merge,retainKeys"),
    imagePullSecrets=_by("name"),
    hostAliases=_by("ip"),
    topologySpreadConstraints=_by("topologyKey"),
    schedulingGates=_by("name"),
    resourceClaims=_by("name", strategy="merge,retainKeys"),
    nodeSelector=_MAP,
    overhead=_MAP,
)

POD_STATUS = _obj(
    conditions=_CONDITIONS,
    podIPs=_by("ip"),
    hostIPs=_by("ip"),
    resourceClaimStatuses=_by("name", strategy="merge,retainKeys"),
)

POD_TEMPLATE_SPEC = _obj(metadata=OBJECT_META, spec=POD_SPEC)


def _top(spec: FieldSchema | None = None, status: FieldSchema | None = None) -> FieldSchema:
    fields = {"metadata": OBJECT_META}
    if spec is not None:
        fields["spec"] = spec
    if status is not None:
        fields["status"] = status
    return FieldSchema(kind="object", fields=fields)


def _workload(**spec_fields: FieldSchema) -> FieldSchema:
    fields = {"template": POD_TEMPLATE_SPEC, "selector": _obj(matchLabels=_MAP), **spec_fields}
    spec = FieldSchema(kind="object", fields=fields)
    return _top(spec, _obj(conditions=_CONDITIONS))


_JOB_SPEC = _obj(template=POD_TEMPLATE_SPEC, selector=_obj(matchLabels=_MAP))

CORE_PATCH_SCHEMAS: dict[str, FieldSchema] = {
    "Pod": _top(POD_SPEC, POD_STATUS),
    "PodTemplate": FieldSchema(fields={"metadata": OBJECT_META, "template": POD_TEMPLATE_SPEC}),
    "ReplicationController": _workload(selector=_MAP),
    "Deployment": _workload(strategy=FieldSchema(kind="object", strategy="retainKeys")),
    "ReplicaSet": _workload(),
    "StatefulSet": _workload(),
    "DaemonSet": _workload(),
    "Job": _top(_JOB_SPEC, _obj(conditions=_CONDITIONS)),
    "CronJob": _top(_obj(jobTemplate=_obj(metadata=OBJECT_META, spec=_JOB_SPEC))),
    "Service": _top(_obj(ports=_by("port"), selector=_MAP), _obj(conditions=_CONDITIONS)),
    "Node": _top(
        _obj(podCIDRs=_PRIMITIVE_SET),
        _obj(conditions=_CONDITIONS, addresses=_by("type"), capacity=_MAP, allocatable=_MAP),
    ),
    "Namespace": _top(status=_obj(conditions=_CONDITIONS)),
    "ServiceAccount": FieldSchema(fields={"metadata": OBJECT_META, "secrets": _by("name")}),
    "PersistentVolumeClaim": _top(status=_obj(conditions=_CONDITIONS)),
    "ConfigMap": FieldSchema(fields={"metadata": OBJECT_META, "data": _MAP, "binaryData": _MAP}),
    "Secret": FieldSchema(fields={"metadata": OBJECT_META, "data": _MAP, "stringData": _MAP}),
}


# A built-in kind without list tags of its own still has ObjectMeta's (finalizers, ownerReferences).
GENERIC_BUILTIN_SCHEMA = _top()


def schema_for_kind(kind: str) -> FieldSchema:
    """The schema of built-in ``kind``; kinds not in the table get ObjectMeta's rules only."""
    return CORE_PATCH_SCHEMAS.get(kind, GENERIC_BUILTIN_SCHEMA)


def strategic_schema_for(kind: str, *, custom_resource: bool) -> FieldSchema:
    """The schema to strategic-merge ``kind`` with; a custom resource raises (415) as upstream."""
    if custom_resource:
        raise UnsupportedPatchTypeError(CUSTOM_RESOURCE_PATCH_TYPES)
    return schema_for_kind(kind)
