"""What the wire records mean: one table per message, field number → field description.

Tables are written in a compact notation, a string of ``number=jsonName[:type][?]`` entries:

- no type: a string; ``int`` (int32/int64, both varints), ``bool``, ``bytes`` (base64 in JSON),
  ``float`` (double); any other name is a message table or one of the special messages that have a
  JSON form of their own (``Time``, ``MicroTime``, ``Duration``, ``IntOrString``, ``Quantity``,
  ``FieldsV1``, ``RawExtension``);
- ``[]T`` a repeated field, ``{}T`` a map from string keys to T (entries with key 1, value 2);
- a trailing ``?`` keeps a zero value in JSON. Go always writes non-pointer scalars on the wire,
  while its JSON drops them when the field is ``omitempty``; ``?`` marks pointer fields (where
  ``replicas: 0`` means something) and fields without ``omitempty``;
- an empty JSON name (``1=:ProbeHandler``) is an embedded struct whose fields are inlined.

Numbers and types come from upstream's generated.proto files (k8s.io/api, k8s.io/apimachinery);
JSON names and pointer-ness from the Go types beside them. Fields we do not list are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

from pocketkube.apiserver.protobuf import (
    auth_messages,
    autoscaling_messages,
    certificates_messages,
    cluster_messages,
    core_messages,
    meta_messages,
    pod_messages,
    workload_messages,
)

SCALARS = frozenset({"string", "int", "bool", "bytes", "float"})
SPECIALS = frozenset(
    {"Time", "MicroTime", "Duration", "IntOrString", "Quantity", "FieldsV1", "RawExtension"}
)


@dataclass(frozen=True)
class Field:
    json_name: str
    kind: str
    repeated: bool = False
    is_map: bool = False
    keep_zero: bool = False

    @property
    def inline(self) -> bool:
        return not self.json_name


Table = dict[int, Field]


def parse_table(spec: str) -> Table:
    table: Table = {}
    for entry in spec.split():
        number, _, rest = entry.partition("=")
        keep_zero = rest.endswith("?")
        rest = rest.removesuffix("?")
        name, _, kind = rest.partition(":")
        repeated = kind.startswith("[]")
        is_map = kind.startswith("{}")
        kind = kind[2:] if repeated or is_map else kind
        table[int(number)] = Field(name, kind or "string", repeated, is_map, keep_zero)
    return table


def _load() -> dict[str, Table]:
    tables: dict[str, Table] = {}
    modules = (
        meta_messages,
        core_messages,
        pod_messages,
        workload_messages,
        auth_messages,
        autoscaling_messages,
        cluster_messages,
        certificates_messages,
    )
    for module in modules:
        for name, spec in module.MESSAGES.items():
            if name in tables:
                raise RuntimeError(f"protobuf message {name} is defined twice")
            tables[name] = parse_table(spec)
    known = SCALARS | SPECIALS | tables.keys()
    for name, table in tables.items():
        for number, field in table.items():
            if field.kind not in known:
                raise RuntimeError(f"{name}.{number} refers to unknown message {field.kind}")
    return tables


MESSAGES: dict[str, Table] = _load()

# (apiVersion, kind) → the message table of the top-level object.
KINDS: dict[tuple[str, str], str] = {
    ("v1", "Namespace"): "Namespace",
    ("v1", "ConfigMap"): "ConfigMap",
    ("v1", "Secret"): "Secret",
    ("v1", "ServiceAccount"): "ServiceAccount",
    ("v1", "Service"): "Service",
    ("v1", "Pod"): "Pod",
    ("v1", "PodTemplate"): "PodTemplate",
    ("apps/v1", "Deployment"): "Deployment",
    ("batch/v1", "Job"): "Job",
    ("batch/v1", "CronJob"): "CronJob",
    ("authentication.k8s.io/v1", "TokenRequest"): "TokenRequest",
    ("authentication.k8s.io/v1", "SelfSubjectReview"): "SelfSubjectReview",
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview"): "SelfSubjectAccessReview",
    ("authorization.k8s.io/v1", "SelfSubjectRulesReview"): "SelfSubjectRulesReview",
    ("autoscaling/v1", "HorizontalPodAutoscaler"): "HorizontalPodAutoscalerV1",
    ("autoscaling/v2", "HorizontalPodAutoscaler"): "HorizontalPodAutoscalerV2",
    ("v1", "ResourceQuota"): "ResourceQuota",
    ("rbac.authorization.k8s.io/v1", "Role"): "Role",
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): "ClusterRole",
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): "RoleBinding",
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): "ClusterRoleBinding",
    ("policy/v1", "PodDisruptionBudget"): "PodDisruptionBudget",
    ("scheduling.k8s.io/v1", "PriorityClass"): "PriorityClass",
    ("networking.k8s.io/v1", "Ingress"): "Ingress",
    ("certificates.k8s.io/v1", "CertificateSigningRequest"): "CertificateSigningRequest",
}
