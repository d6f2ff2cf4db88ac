"""Generate ``src/pocketkube/apiserver/openapi/schemas.json.gz``: our OpenAPI v3 schema table.

Run ``.venv/bin/python scripts/gen_schemas.py`` after changing the catalog or the patch table.

Where the facts come from:

- field names, types and descriptions: the model classes of the official ``kubernetes`` Python
  client (a dev dependency; each class has ``openapi_types``, ``attribute_map`` and pydantic
  ``model_fields`` with descriptions), walked from every kind our catalog serves;
- definition names (``io.k8s.api.core.v1.Pod``): the group of the catalog entry the walk started
  from (upstream's Go package naming), apimachinery's meta types by name;
- strategic-merge metadata (``x-kubernetes-patch-merge-key`` and friends): our own patch table,
  ``pocketkube.api.patch.schema.CORE_PATCH_SCHEMAS``, laid onto the definitions along each kind's
  field paths.

The result maps definition name -> schema object, with ``$ref`` to
``#/components/schemas/<name>`` between them, and is written gzip-compressed and deterministic
(sorted keys, fixed mtime) so a rerun without changes leaves the file byte-identical.
"""

from __future__ import annotations

import gzip
import json
import re
import sys
import typing
from collections import deque
from pathlib import Path
from typing import Any

import kubernetes.client.models as models

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from pocketkube.api.patch.schema import CORE_PATCH_SCHEMAS, OBJECT_META, FieldSchema  # noqa: E402
from pocketkube.apiserver.resources_builtin import builtin_catalog  # noqa: E402

OUTPUT = ROOT / "src/pocketkube/apiserver/openapi/schemas.json.gz"
REF = "#/components/schemas/"
META = "io.k8s.apimachinery.pkg.apis.meta.v1."
TIME = META + "Time"
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"

# apimachinery's types that every group shares (python class -> short name under META).
META_TYPES = {
    "V1ObjectMeta": "ObjectMeta",
    "V1ListMeta": "ListMeta",
    "V1LabelSelector": "LabelSelector",
    "V1LabelSelectorRequirement": "LabelSelectorRequirement",
    "V1OwnerReference": "OwnerReference",
    "V1ManagedFieldsEntry": "ManagedFieldsEntry",
    "V1Condition": "Condition",
    "V1Status": "Status",
    "V1StatusDetails": "StatusDetails",
    "V1StatusCause": "StatusCause",
    "V1DeleteOptions": "DeleteOptions",
    "V1Preconditions": "Preconditions",
}
# Core types that only another group's kinds reach.
CORE_TYPES = {"V1TopologySelectorTerm", "V1TopologySelectorLabelRequirement"}
# Maps of resource quantities (upstream: additionalProperties -> Quantity).
QUANTITY_MAPS = {"limits", "requests", "capacity", "allocatable", "overhead", "hard", "used"}
INT64_FIELDS = {"generation", "deletionGracePeriodSeconds", "observedGeneration"}

_TYPE = re.compile(r"^(?:List\[(?P<list>.+)\]|Dict\[str, (?P<dict>.+)\]|(?P<plain>.+))$")
_PRERELEASE = re.compile(r"\bV\d+(?:alpha|beta)\d+")
_CLASS_PREFIX = re.compile(r"^(?P<group>[A-Z][a-z]+)?(?P<version>V\d+(?:(?:alpha|beta)\d+)?)")


def package(group: str) -> str:
    """Upstream's Go package for an API group: ``apps`` -> ``io.k8s.api.apps``."""
    if group == "apiextensions.k8s.io":
        return "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions"
    return "io.k8s.api." + (group.split(".")[0] if group else "core")


def class_for(group: str, version: str, kind: str) -> type | None:
    prefix = version[0].upper() + version[1:]
    label = (group.split(".")[0] if group else "core").capitalize()
    for name in (f"{label}{prefix}{kind}", f"{prefix}{kind}"):
        found = getattr(models, name, None)
        if isinstance(found, type) and hasattr(found, "openapi_types"):
            return found
    return None


def description(cls: type) -> str:
    doc = (cls.__doc__ or "").split("Attributes:")[0]
    return " ".join(doc.split())


class Builder:
    def __init__(self) -> None:
        self.names: dict[str, str] = {}  # python class name -> definition name
        self.schemas: dict[str, dict[str, Any]] = {
            TIME: {
                "description": "Time is a wrapper around time.Time which supports correct "
                "marshaling to YAML and JSON, in RFC 3339 form.",
                "type": "string",
                "format": "date-time",
            },
            INT_OR_STRING: {
                "description": "IntOrString is a type that can hold an int32 or a string.",
                "type": "string",
                "format": "int-or-string",
                "x-kubernetes-int-or-string": True,
            },
            QUANTITY: {
                "description": "Quantity is a fixed-point representation of a number, "
                "serialized as a string such as 100m, 1Gi or 2.",
                "type": "string",
                "format": "quantity",
                "x-kubernetes-int-or-string": True,
            },
        }

    def name_of(self, class_name: str, group: str) -> str:
        known = self.names.get(class_name)
        if known is not None:
            return known
        if class_name in META_TYPES:
            name = META + META_TYPES[class_name]
        else:
            match = _CLASS_PREFIX.match(class_name)
            assert match is not None, class_name
            version = match["version"].lower()
            short = class_name[match.end() :]
            if match["group"]:  # CoreV1Event, EventsV1Event: the group is in the name
                group = "" if match["group"] == "Core" else match["group"].lower()
                group = {"apiextensions": "apiextensions.k8s.io"}.get(group, group)
            if class_name in CORE_TYPES:
                group = ""
            name = f"{package(group)}.{version}.{short}"
        self.names[class_name] = name
        return name

    def walk(self, root: type, group: str, gvk: dict[str, str] | None) -> str:
        name = self.name_of(root.__name__, group)
        queue = deque([root])
        while queue:
            cls = queue.popleft()
            def_name = self.name_of(cls.__name__, group)
            if def_name in self.schemas:
                continue
            self.schemas[def_name] = self.schema_of(cls, group, queue)
        if gvk is not None:
            tags = self.schemas[name].setdefault("x-kubernetes-group-version-kind", [])
            if gvk not in tags:
                tags.append(gvk)
        return name

    def schema_of(self, cls: Any, group: str, queue: deque[type]) -> dict[str, Any]:
        properties: dict[str, Any] = {}
        required = []
        for attr, type_name in cls.openapi_types.items():
            if _PRERELEASE.search(type_name) and not _PRERELEASE.match(cls.__name__):
                continue  # an alpha field of a stable type, newer than the release we follow
            json_name = cls.attribute_map[attr]
            field = _model_field(cls, attr)
            prop = self.type_schema(type_name, field, json_name, group, queue)
            if field.description:
                prop = _describe(prop, " ".join(field.description.split()))
            properties[json_name] = prop
            if field.is_required():
                required.append(json_name)
        schema: dict[str, Any] = {"description": description(cls), "type": "object"}
        if properties:
            schema["properties"] = properties
        if required:
            schema["required"] = sorted(required)
        return schema

    def type_schema(
        self, type_name: str, field: Any, json_name: str, group: str, queue: deque[type]
    ) -> dict[str, Any]:
        match = _TYPE.match(type_name)
        assert match is not None, type_name
        if match["list"]:
            return {"type": "array", "items": self.scalar(match["list"], field, group, queue)}
        if match["dict"]:
            if json_name in QUANTITY_MAPS and match["dict"] == "str":
                return {"type": "object", "additionalProperties": {"$ref": REF + QUANTITY}}
            value = self.scalar(match["dict"], field, group, queue)
            return {"type": "object", "additionalProperties": value}
        scalar = self.scalar(match["plain"], field, group, queue)
        if json_name in INT64_FIELDS and scalar.get("type") == "integer":
            scalar["format"] = "int64"
        return scalar

    def scalar(self, type_name: str, field: Any, group: str, queue: deque[type]) -> dict[str, Any]:
        simple = {
            "str": {"type": "string"},
            "int": {"type": "integer"},
            "bool": {"type": "boolean"},
            "float": {"type": "number", "format": "double"},
            "bytes": {"type": "string", "format": "byte"},
            "datetime": {"$ref": REF + TIME},
        }
        if type_name in simple:
            return dict(simple[type_name])
        if type_name.startswith(("List[", "Dict[")):  # Dict[str, List[str]]
            return self.type_schema(type_name, field, "", group, queue)
        if type_name == "object":
            annotation = str(field.annotation)
            if "int" in annotation and "str" in annotation and "Dict" not in annotation:
                return {"$ref": REF + INT_OR_STRING}
            if annotation.startswith(("typing.Optional[typing.Dict", "typing.Dict")):
                return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
            return {"x-kubernetes-preserve-unknown-fields": True}  # any JSON value
        cls = getattr(models, type_name)
        queue.append(cls)
        return {"$ref": REF + self.name_of(type_name, group)}

    # -- strategic merge metadata ----------------------------------------------------------------
    def lay_patch_keys(self, def_name: str, patch: FieldSchema) -> None:
        schema = self.schemas.get(def_name)
        if schema is None:
            return
        properties = schema.get("properties", {})
        for field_name, child in patch.fields.items():
            prop = properties.get(field_name)
            if prop is None:
                continue
            if "$ref" in prop:  # no siblings beside a $ref in OpenAPI 3.0
                prop = properties[field_name] = {"allOf": [{"$ref": prop.pop("$ref")}], **prop}
            if child.strategy:
                prop["x-kubernetes-patch-strategy"] = child.strategy
            if child.merge_key:
                prop["x-kubernetes-patch-merge-key"] = child.merge_key
            if child.kind == "list" and child.merges:
                if child.merge_key:
                    prop["x-kubernetes-list-type"] = "map"
                    prop["x-kubernetes-list-map-keys"] = [child.merge_key]
                else:
                    prop["x-kubernetes-list-type"] = "set"
            target = prop.get("items", prop) if child.kind == "list" else prop
            ref = _ref_of(target)
            element = child.items if child.kind == "list" else child
            if ref is not None and element is not None and element.fields:
                self.lay_patch_keys(ref, element)


def _model_field(cls: Any, attr: str) -> Any:
    """The pydantic field of an ``openapi_types`` attribute (``_continue``: ``var_continue``)."""
    for candidate in (attr, "var" + attr, "var_" + attr, attr.lstrip("_")):
        if candidate in cls.model_fields:
            return cls.model_fields[candidate]
    raise KeyError(f"{cls.__name__}.{attr}")


def _describe(prop: dict[str, Any], text: str) -> dict[str, Any]:
    """A ``$ref`` cannot carry siblings in OpenAPI 3.0; upstream wraps it in ``allOf``."""
    if "$ref" in prop:
        return {"allOf": [prop], "description": text}
    return {**prop, "description": text}


def _ref_of(prop: dict[str, Any]) -> str | None:
    ref = prop.get("$ref") or next((p.get("$ref") for p in prop.get("allOf", [])), None)
    return typing.cast(str, ref)[len(REF) :] if ref else None


def build() -> dict[str, dict[str, Any]]:
    builder = Builder()
    roots: list[tuple[str, str, str]] = []
    for resource in builtin_catalog():
        roots.append((resource.group, resource.version, resource.kind))
        roots.append((resource.group, resource.version, resource.kind + "List"))
        for sub in resource.subresources:
            if sub.name == "scale":
                roots.append((sub.group, sub.version, sub.kind))
    roots.append(("", "v1", "Status"))
    roots.append(("", "v1", "DeleteOptions"))
    for group, version, kind in roots:
        cls = class_for(group, version, kind)
        if cls is None:
            if not kind.endswith("List"):  # BindingList, TokenReviewList: none upstream either
                print(f"no client model for {group}/{version} {kind}", file=sys.stderr)
            continue
        gvk = {"group": group, "version": version, "kind": kind}
        if kind in ("Status", "DeleteOptions"):
            builder.walk(cls, "", None)
            continue
        name = builder.walk(cls, group, gvk)
        patch = CORE_PATCH_SCHEMAS.get(kind)
        if patch is not None:
            builder.lay_patch_keys(name, patch)
    builder.lay_patch_keys(META + "ObjectMeta", OBJECT_META)
    return dict(sorted(builder.schemas.items()))


def main() -> None:
    table = build()
    raw = json.dumps(table, sort_keys=True, separators=(",", ":")).encode()
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_bytes(gzip.compress(raw, compresslevel=9, mtime=0))
    print(f"{len(table)} schemas, {len(raw)} bytes JSON, {OUTPUT.stat().st_size} bytes gzipped")


if __name__ == "__main__":
    main()
