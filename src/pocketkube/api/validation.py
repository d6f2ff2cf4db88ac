"""Name and metadata validation with upstream's wording.

The rules and messages follow ``k8s.io/apimachinery/pkg/util/validation`` (the ``is_*`` checks,
which return a list of human-readable problems), ``.../util/validation/field`` (``FieldError``,
which says *where* a problem is) and ``.../api/validation/objectmeta.go`` (metadata on create).
Messages matter: kubectl prints them verbatim and tests in the wild grep for them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

DNS1123_LABEL_MAX_LENGTH = 63
DNS1123_SUBDOMAIN_MAX_LENGTH = 253
LABEL_VALUE_MAX_LENGTH = 63
QUALIFIED_NAME_MAX_LENGTH = 63
TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024

_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + "(\\." + _DNS1123_LABEL_FMT + ")*"
_DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE_FMT = "(" + _QUALIFIED_NAME_FMT + ")?"

_DNS1123_LABEL_RE = re.compile(_DNS1123_LABEL_FMT)
_DNS1123_SUBDOMAIN_RE = re.compile(_DNS1123_SUBDOMAIN_FMT)
_DNS1035_LABEL_RE = re.compile(_DNS1035_LABEL_FMT)
_QUALIFIED_NAME_RE = re.compile(_QUALIFIED_NAME_FMT)
_LABEL_VALUE_RE = re.compile(_LABEL_VALUE_FMT)

_DNS1123_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character"
)
_DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character"
)
_DNS1035_LABEL_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character"
)
_QUALIFIED_NAME_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character"
)
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character"
)
IS_NEGATIVE_ERROR_MSG = "must be greater than or equal to 0"
FIELD_IMMUTABLE_ERROR_MSG = "field is immutable"


def regex_error(msg: str, fmt: str, *examples: str) -> str:
    """Upstream's ``RegexError``: the message, examples, then the regex itself."""
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    shown = " or ".join(f"'{example}', " for example in examples)
    return f"{msg} (e.g. {shown}regex used for validation is '{fmt}')"


def max_len_error(length: int) -> str:
    return f"must be no more than {length} characters"


def empty_error() -> str:
    return "must be non-empty"


def is_dns1123_label(value: str) -> list[str]:
    errs = []
    if len(value) > DNS1123_LABEL_MAX_LENGTH:
        errs.append(max_len_error(DNS1123_LABEL_MAX_LENGTH))
    if not _DNS1123_LABEL_RE.fullmatch(value):
        if _DNS1123_SUBDOMAIN_RE.fullmatch(value):
            errs.append("must not contain dots")
        else:
            errs.append(regex_error(_DNS1123_LABEL_MSG, _DNS1123_LABEL_FMT, "my-name", "123-abc"))
    return errs


def is_dns1123_subdomain(value: str) -> list[str]:
    errs = []
    if len(value) > DNS1123_SUBDOMAIN_MAX_LENGTH:
        errs.append(max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH))
    if not _DNS1123_SUBDOMAIN_RE.fullmatch(value):
        errs.append(regex_error(_DNS1123_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errs


def is_dns1035_label(value: str) -> list[str]:
    errs = []
    if len(value) > DNS1123_LABEL_MAX_LENGTH:
        errs.append(max_len_error(DNS1123_LABEL_MAX_LENGTH))
    if not _DNS1035_LABEL_RE.fullmatch(value):
        errs.append(regex_error(_DNS1035_LABEL_MSG, _DNS1035_LABEL_FMT, "my-name", "abc-123"))
    return errs


def is_qualified_name(value: str) -> list[str]:
    """A label key: an optional DNS-1123 subdomain prefix and '/', then a name of ≤ 63 chars."""
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part " + empty_error())
        else:
            errs.extend("prefix part " + msg for msg in is_dns1123_subdomain(prefix))
    else:
        return [
            "a qualified name "
            + regex_error(_QUALIFIED_NAME_MSG, _QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errs.append("name part " + empty_error())
    elif len(name) > QUALIFIED_NAME_MAX_LENGTH:
        errs.append("name part " + max_len_error(QUALIFIED_NAME_MAX_LENGTH))
    if not _QUALIFIED_NAME_RE.fullmatch(name):
        errs.append(
            "name part "
            + regex_error(_QUALIFIED_NAME_MSG, _QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
        )
    return errs


def is_valid_label_value(value: str) -> list[str]:
    errs = []
    if len(value) > LABEL_VALUE_MAX_LENGTH:
        errs.append(max_len_error(LABEL_VALUE_MAX_LENGTH))
    if not _LABEL_VALUE_RE.fullmatch(value):
        errs.append(regex_error(_LABEL_VALUE_MSG, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errs


# -- names as path segments (k8s.io/apimachinery/pkg/api/validation/path) ---------------------
NAME_MAY_NOT_BE = (".", "..")
NAME_MAY_NOT_CONTAIN = ("/", "%")


def is_valid_path_segment_name(name: str) -> list[str]:
    """Whether ``name`` can be one segment of a URL path or storage key, as-is."""
    if name in NAME_MAY_NOT_BE:
        return [f"may not be '{name}'"]
    return [f"may not contain '{bad}'" for bad in NAME_MAY_NOT_CONTAIN if bad in name]


def is_valid_path_segment_prefix(name: str) -> list[str]:
    return [f"may not contain '{bad}'" for bad in NAME_MAY_NOT_CONTAIN if bad in name]


# A ValidateNameFunc: (name, is_generate_name_prefix) -> problems.
NameValidator = Callable[[str, bool], list[str]]


def validate_path_segment_name(name: str, prefix: bool) -> list[str]:
    return is_valid_path_segment_prefix(name) if prefix else is_valid_path_segment_name(name)


def _mask_trailing_dash(name: str) -> str:
    # generateName "foo-" is fine: random characters will follow the dash.
    return name[:-1] + "a" if len(name) > 1 and name.endswith("-") else name


def name_is_dns_subdomain(name: str, prefix: bool) -> list[str]:
    return is_dns1123_subdomain(_mask_trailing_dash(name) if prefix else name)


def name_is_dns_label(name: str, prefix: bool) -> list[str]:
    return is_dns1123_label(_mask_trailing_dash(name) if prefix else name)


def name_is_dns1035_label(name: str, prefix: bool) -> list[str]:
    return is_dns1035_label(_mask_trailing_dash(name) if prefix else name)


# -- field errors (k8s.io/apimachinery/pkg/util/validation/field) ------------------------------
class ErrorType(StrEnum):
    NOT_FOUND = "FieldValueNotFound"
    REQUIRED = "FieldValueRequired"
    DUPLICATE = "FieldValueDuplicate"
    INVALID = "FieldValueInvalid"
    NOT_SUPPORTED = "FieldValueNotSupported"
    FORBIDDEN = "FieldValueForbidden"
    TOO_LONG = "FieldValueTooLong"
    TOO_MANY = "FieldValueTooMany"
    INTERNAL = "InternalError"
    TYPE_INVALID = "FieldValueTypeInvalid"

    @property
    def text(self) -> str:
        return _ERROR_TYPE_TEXT[self]


_ERROR_TYPE_TEXT = {
    ErrorType.NOT_FOUND: "Not found",
    ErrorType.REQUIRED: "Required value",
    ErrorType.DUPLICATE: "Duplicate value",
    ErrorType.INVALID: "Invalid value",
    ErrorType.NOT_SUPPORTED: "Unsupported value",
    ErrorType.FORBIDDEN: "Forbidden",
    ErrorType.TOO_LONG: "Too long",
    ErrorType.TOO_MANY: "Too many",
    ErrorType.INTERNAL: "Internal error",
    ErrorType.TYPE_INVALID: "Invalid value",
}
# These types never print the offending value, only the type and the detail.
_VALUELESS = {ErrorType.REQUIRED, ErrorType.FORBIDDEN, ErrorType.TOO_LONG, ErrorType.INTERNAL}
_GO_ESCAPES = {'"': '\\"', "\\": "\\\\", "\a": "\\a", "\b": "\\b", "\f": "\\f"}
_GO_ESCAPES.update({"\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"})


def go_quote(text: str) -> str:
    """Go's ``%q`` of a string (strconv.Quote), which upstream uses to show bad values."""
    out = []
    for ch in text:
        if ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return '"' + "".join(out) + '"'


def format_value(value: Any) -> str:
    """How upstream prints a bad value: strings quoted, scalars bare, the rest as JSON."""
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


@dataclass(frozen=True, slots=True)
class FieldError:
    """One validation problem at one field path, e.g. ``metadata.name``."""

    type: ErrorType
    field: str
    value: Any = ""
    detail: str = ""

    @property
    def body(self) -> str:
        """The message without the field path (upstream's ``ErrorBody``; a Status cause's
        message)."""
        text = self.type.text
        if self.type not in _VALUELESS:
            text = f"{text}: {format_value(self.value)}"
        return f"{text}: {self.detail}" if self.detail else text

    @property
    def message(self) -> str:
        return f"{self.field}: {self.body}"

    def __str__(self) -> str:
        return self.message


def required(field: str, detail: str = "") -> FieldError:
    return FieldError(ErrorType.REQUIRED, field, "", detail)


def invalid(field: str, value: Any, detail: str) -> FieldError:
    return FieldError(ErrorType.INVALID, field, value, detail)


def forbidden(field: str, detail: str) -> FieldError:
    return FieldError(ErrorType.FORBIDDEN, field, "", detail)


def duplicate(field: str, value: Any) -> FieldError:
    return FieldError(ErrorType.DUPLICATE, field, value)


def type_invalid(field: str, value: Any, detail: str) -> FieldError:
    return FieldError(ErrorType.TYPE_INVALID, field, value, detail)


def not_supported(field: str, value: Any, valid: Sequence[str]) -> FieldError:
    detail = "supported values: " + ", ".join(go_quote(v) for v in valid) if valid else ""
    return FieldError(ErrorType.NOT_SUPPORTED, field, value, detail)


def too_long(field: str, max_length: int) -> FieldError:
    # Kubernetes ≤ 1.31 wording; 1.32 changed it to "may not be more than N bytes".
    return FieldError(ErrorType.TOO_LONG, field, "", f"must have at most {max_length} bytes")


def aggregate(messages: Iterable[str]) -> str:
    """utilerrors.NewAggregate(...).Error(): one message bare, several as ``[a, b]``, deduped."""
    unique = list(dict.fromkeys(messages))
    if len(unique) == 1:
        return unique[0]
    return "[" + ", ".join(unique) + "]" if unique else ""


# -- metadata (k8s.io/apimachinery/pkg/api/validation/objectmeta.go) ---------------------------
def validate_labels(labels: Any, path: str) -> list[FieldError]:
    if not isinstance(labels, Mapping):
        return [type_invalid(path, labels, "must be of type object")] if labels else []
    errs: list[FieldError] = []
    for key, value in labels.items():
        errs.extend(invalid(path, key, msg) for msg in is_qualified_name(str(key)))
        if not isinstance(value, str):
            errs.append(type_invalid(path, value, "must be of type string"))
            continue
        errs.extend(invalid(path, value, msg) for msg in is_valid_label_value(value))
    return errs


def validate_annotations(annotations: Any, path: str) -> list[FieldError]:
    if not isinstance(annotations, Mapping):
        return [type_invalid(path, annotations, "must be of type object")] if annotations else []
    errs: list[FieldError] = []
    size = 0
    for key, value in annotations.items():
        # Annotation keys are qualified names, except that case does not matter.
        errs.extend(invalid(path, key, msg) for msg in is_qualified_name(str(key).lower()))
        size += len(str(key).encode()) + len(str(value).encode())
    if size > TOTAL_ANNOTATION_SIZE_LIMIT:
        errs.append(too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT))
    return errs


def _split_api_version(api_version: str) -> tuple[str, str]:
    """(group, version) as schema.ParseGroupVersion; ('', '') when malformed."""
    if not api_version:
        return "", ""
    parts = api_version.split("/")
    if len(parts) == 1:
        return "", parts[0]
    if len(parts) == 2:
        return parts[0], parts[1]
    return "", ""


def validate_owner_references(refs: Any, path: str) -> list[FieldError]:
    if not isinstance(refs, list):
        return [type_invalid(path, refs, "must be of type array")] if refs else []
    errs = []
    first_controller = ""
    for ref in refs:
        if not isinstance(ref, Mapping):
            errs.append(type_invalid(path, ref, "must be of type object"))
            continue
        api_version = str(ref.get("apiVersion") or "")
        group, version = _split_api_version(api_version)
        if not version:
            errs.append(invalid(f"{path}.apiVersion", api_version, "version must not be empty"))
        kind = str(ref.get("kind") or "")
        errs.extend(
            invalid(f"{path}.{key}", str(ref.get(key) or ""), "must not be empty")
            for key in ("kind", "name", "uid")
            if not ref.get(key)
        )
        if (group, version, kind) == ("", "v1", "Event"):
            errs.append(
                invalid(path, dict(ref), "/v1, Kind=Event is disallowed from being an owner")
            )
        if ref.get("controller") is True:
            current = f"{kind}/{ref.get('name', '')}"
            if first_controller:
                msg = 'Only one reference can have Controller set to true. Found "true" in '
                msg += f"references for {first_controller} and {current}"
                errs.append(invalid(path, refs, msg))
            else:
                first_controller = current
    return errs


def validate_finalizers(finalizers: Any, path: str) -> list[FieldError]:
    if not isinstance(finalizers, list):
        return [type_invalid(path, finalizers, "must be of type array")] if finalizers else []
    errs: list[FieldError] = []
    for finalizer in finalizers:
        errs.extend(invalid(path, finalizer, msg) for msg in is_qualified_name(str(finalizer)))
    if "orphan" in finalizers and "foregroundDeletion" in finalizers:
        errs.append(
            invalid(path, finalizers, "finalizer orphan and foregroundDeletion cannot be both set")
        )
    return errs


def validate_object_meta(
    meta: Mapping[str, Any],
    *,
    namespaced: bool,
    name_validator: NameValidator = name_is_dns_subdomain,
    path: str = "metadata",
) -> list[FieldError]:
    """Validate an object's metadata on create (after generateName has produced a name)."""
    errs: list[FieldError] = []
    generate_name = meta.get("generateName") or ""
    name = meta.get("name") or ""
    if generate_name:
        errs.extend(
            invalid(f"{path}.generateName", generate_name, msg)
            for msg in name_validator(str(generate_name), True)
        )
    if not name:
        errs.append(required(f"{path}.name", "name or generateName is required"))
    else:
        errs.extend(invalid(f"{path}.name", name, msg) for msg in name_validator(str(name), False))
    namespace = meta.get("namespace") or ""
    if namespaced and not namespace:
        errs.append(required(f"{path}.namespace"))
    elif namespaced:
        errs.extend(
            invalid(f"{path}.namespace", namespace, msg)
            for msg in name_is_dns_label(str(namespace), False)
        )
    elif namespace:
        errs.append(forbidden(f"{path}.namespace", "not allowed on this type"))
    generation = meta.get("generation")
    if isinstance(generation, int) and generation < 0:
        errs.append(invalid(f"{path}.generation", generation, IS_NEGATIVE_ERROR_MSG))
    errs.extend(validate_labels(meta.get("labels"), f"{path}.labels"))
    errs.extend(validate_annotations(meta.get("annotations"), f"{path}.annotations"))
    errs.extend(validate_owner_references(meta.get("ownerReferences"), f"{path}.ownerReferences"))
    errs.extend(validate_finalizers(meta.get("finalizers"), f"{path}.finalizers"))
    return errs
