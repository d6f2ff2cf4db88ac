"""The three patch types kube-apiserver accepts on PATCH, as pure functions on JSON values.

- ``application/json-patch+json``: RFC 6902 operations (`apply_json_patch`);
- ``application/merge-patch+json``: RFC 7386 merge (`apply_merge_patch`);
- ``application/strategic-merge-patch+json``: Kubernetes' strategic merge patch
  (`apply_strategic_merge_patch`), which needs per-kind metadata (`FieldSchema`,
  `CORE_PATCH_SCHEMAS`) saying which lists merge by which key.

Server-side apply (``application/apply-patch+yaml``) is not here: it needs managed fields and lives
with the apiserver. Every function returns a new document and never mutates its inputs, so the
handler can retry a patch on a conflicting resourceVersion against a fresh object. Failures raise
`PatchError`; strategic merge on a custom resource raises `UnsupportedPatchTypeError` (415).
"""

from pocketkube.api.patch.errors import PatchError, UnsupportedPatchTypeError
from pocketkube.api.patch.json_patch import apply_json_patch, json_equal, parse_pointer
from pocketkube.api.patch.merge_patch import apply_merge_patch
from pocketkube.api.patch.schema import (
    APPLY_PATCH,
    BUILTIN_PATCH_TYPES,
    CORE_PATCH_SCHEMAS,
    CUSTOM_RESOURCE_PATCH_TYPES,
    GENERIC_BUILTIN_SCHEMA,
    JSON_PATCH,
    MERGE_PATCH,
    OBJECT_META,
    STRATEGIC_MERGE_PATCH,
    FieldSchema,
    PatchSchema,
    schema_for_kind,
    strategic_schema_for,
)
from pocketkube.api.patch.strategic import apply_strategic_merge_patch

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
    "PatchError",
    "PatchSchema",
    "UnsupportedPatchTypeError",
    "apply_json_patch",
    "apply_merge_patch",
    "apply_strategic_merge_patch",
    "json_equal",
    "parse_pointer",
    "schema_for_kind",
    "strategic_schema_for",
]
