"""Server-side apply and managedFields (upstream's structured-merge-diff and field manager).

- `fieldset`: sets of field paths in their FieldsV1 spelling;
- `types`: how each field of a type merges, built from OpenAPI schemas;
- `typed`: field sets, comparison, merge and removal of JSON values along a type;
- `manager`: the managedFields entries of an object and the Update and Apply operations.
"""

from pocketkube.api.managedfields.fieldset import FieldSet, FieldsV1Error, path_string
from pocketkube.api.managedfields.manager import (
    APPLY,
    UPDATE,
    ApplyConflict,
    Entry,
    ManagedFields,
    ManagedFieldsError,
    created_fields,
)
from pocketkube.api.managedfields.typed import MISSING, compare, field_set, merge
from pocketkube.api.managedfields.types import UNTYPED, SchemaTypes, TypeNode

__all__ = [
    "APPLY",
    "MISSING",
    "UNTYPED",
    "UPDATE",
    "ApplyConflict",
    "Entry",
    "FieldSet",
    "FieldsV1Error",
    "ManagedFields",
    "ManagedFieldsError",
    "SchemaTypes",
    "TypeNode",
    "compare",
    "created_fields",
    "field_set",
    "merge",
    "path_string",
]
