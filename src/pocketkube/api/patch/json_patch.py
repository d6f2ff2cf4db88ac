"""RFC 6902 JSON Patch (``application/json-patch+json``), as ``kubectl patch --type=json`` sends it.

A patch is a list of operations applied in order to a deep copy of the document; the first one
that fails stops the whole patch, so the caller never sees a half-applied object. Paths are RFC
6901 JSON Pointers. Error messages follow evanphx/json-patch, the library kube-apiserver uses, so
that a client sees the same text it would from a real cluster.

One evanphx quirk is kept on purpose: ``test`` of a missing path against ``null`` succeeds.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from pocketkube.api.patch.errors import PatchError

__all__ = ["apply_json_patch", "json_equal", "parse_pointer"]

_OPS = frozenset({"add", "remove", "replace", "move", "copy", "test"})


def apply_json_patch(doc: Any, ops: Sequence[Any]) -> Any:
    """Return ``doc`` with every operation of ``ops`` applied; ``doc`` is left untouched."""
    if not isinstance(ops, list | tuple):
        raise PatchError("json patch must be a list of operations", bad_request=True)
    result = copy.deepcopy(doc)
    for op in ops:
        result = _apply_one(result, op)
    return result


def parse_pointer(path: str) -> list[str]:
    """Split an RFC 6901 pointer into unescaped reference tokens (``""`` is the whole document)."""
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"invalid JSON pointer {path!r}: must start with '/'", bad_request=True)
    tokens = path[1:].split("/")
    for token in tokens:
        rest = token.replace("~0", "").replace("~1", "")
        if "~" in rest:
            raise PatchError(f"invalid JSON pointer {path!r}: bad '~' escape", bad_request=True)
    # ~1 first, then ~0: "~01" must become "~1", not "/".
    return [t.replace("~1", "/").replace("~0", "~") for t in tokens]


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality: 1 == 1.0, but ``true`` is not ``1`` and key order does not matter."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and bool(a == b)


def _field(op: dict[str, Any], name: str, kind: str) -> str:
    value = op.get(name)
    if not isinstance(value, str):
        raise PatchError(f"{kind} operation, missing {name} field: missing value", bad_request=True)
    return value


def _apply_one(doc: Any, op: Any) -> Any:
    if not isinstance(op, dict):
        raise PatchError(f"invalid operation {op!r}: not an object", bad_request=True)
    kind = op.get("op")
    if kind not in _OPS:
        raise PatchError(f"unsupported operation: {kind!r}", bad_request=True)
    path = _field(op, "path", kind)
    if kind in ("add", "replace", "test") and "value" not in op:
        raise PatchError(f"{kind} operation, missing value field: missing value", bad_request=True)
    if kind == "add":
        return _add(doc, path, copy.deepcopy(op["value"]), kind)
    if kind == "remove":
        return _remove(doc, path)
    if kind == "replace":
        return _replace(doc, path, copy.deepcopy(op["value"]))
    if kind == "test":
        _test(doc, path, op["value"])
        return doc
    from_path = _field(op, "from", kind)
    if kind == "move":
        return _move(doc, from_path, path)
    value = _get(doc, from_path)
    if value is _MISSING:
        raise PatchError(
            f'copy operation does not apply: doc is missing from path: "{from_path}": missing value'
        )
    return _add(doc, path, copy.deepcopy(value), "copy")


class _Missing:
    pass


_MISSING: Any = _Missing()


def _array_index(token: str, length: int, *, allow_end: bool) -> int | None:
    """Index for ``token`` in an array of ``length``; ``None`` if it is not a valid index."""
    if token == "-":
        return length if allow_end else None
    if not token.isdigit() or (len(token) > 1 and token[0] == "0"):
        return None
    idx = int(token)
    limit = length + 1 if allow_end else length
    return idx if idx < limit else None


def _parent(doc: Any, tokens: list[str]) -> Any:
    """The container holding the last token, or ``_MISSING`` if the path does not resolve."""
    node = doc
    for token in tokens[:-1]:
        node = _child(node, token)
        if node is _MISSING:
            return _MISSING
    return node


def _child(node: Any, token: str) -> Any:
    if isinstance(node, dict):
        return node.get(token, _MISSING)
    if isinstance(node, list):
        idx = _array_index(token, len(node), allow_end=False)
        return _MISSING if idx is None else node[idx]
    return _MISSING


def _get(doc: Any, path: str) -> Any:
    node = doc
    for token in parse_pointer(path):
        node = _child(node, token)
        if node is _MISSING:
            break
    return node


def _add(doc: Any, path: str, value: Any, kind: str) -> Any:
    tokens = parse_pointer(path)
    if not tokens:
        return value
    parent = _parent(doc, tokens)
    where = "destination path: " if kind == "copy" else "path: "
    if not isinstance(parent, dict | list):
        raise PatchError(
            f'{kind} operation does not apply: doc is missing {where}"{path}": missing value'
        )
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
        return doc
    idx = _array_index(last, len(parent), allow_end=True)
    if idx is None:
        raise PatchError(
            f"error in {kind} for path: '{path}': "
            f"Unable to access invalid index: {last}: invalid index referenced"
        )
    parent.insert(idx, value)
    return doc


def _remove(doc: Any, path: str) -> Any:
    tokens = parse_pointer(path)
    parent = _parent(doc, tokens) if tokens else _MISSING
    if not isinstance(parent, dict | list):
        raise PatchError(
            f'remove operation does not apply: doc is missing path: "{path}": missing value'
        )
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(
                f"error in remove for path: '{path}': "
                f"unable to remove nonexistent key: {last}: missing value"
            )
        del parent[last]
        return doc
    idx = _array_index(last, len(parent), allow_end=False)
    if idx is None:
        raise PatchError(
            f"error in remove for path: '{path}': "
            f"Unable to access invalid index: {last}: invalid index referenced"
        )
    del parent[idx]
    return doc


def _replace(doc: Any, path: str, value: Any) -> Any:
    tokens = parse_pointer(path)
    if not tokens:
        return value
    parent = _parent(doc, tokens)
    if not isinstance(parent, dict | list):
        raise PatchError(
            f"replace operation does not apply: doc is missing path: {path}: missing value"
        )
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(
                f"replace operation does not apply: doc is missing key: {path}: missing value"
            )
        parent[last] = value
        return doc
    idx = _array_index(last, len(parent), allow_end=False)
    if idx is None:
        raise PatchError(
            f"error in replace for path: '{path}': "
            f"Unable to access invalid index: {last}: invalid index referenced"
        )
    parent[idx] = value
    return doc


def _move(doc: Any, from_path: str, path: str) -> Any:
    from_tokens = parse_pointer(from_path)
    to_tokens = parse_pointer(path)
    if not from_tokens:
        raise PatchError("unable to move entire document to another path: invalid state detected")
    if to_tokens[: len(from_tokens)] == from_tokens and len(to_tokens) > len(from_tokens):
        raise PatchError(f"move operation does not apply: {from_path} is a prefix of {path}")
    value = _get(doc, from_path)
    if value is _MISSING:
        raise PatchError(
            f"move operation does not apply: doc is missing from path: {from_path}: missing value"
        )
    doc = _remove(doc, from_path)
    return _add(doc, path, value, "move")


def _test(doc: Any, path: str, expected: Any) -> None:
    actual = _get(doc, path)
    if actual is _MISSING:
        tokens = parse_pointer(path)
        if not isinstance(_parent(doc, tokens), dict | list):
            raise PatchError(
                f"test operation does not apply: is missing path: {path}: missing value"
            )
        if expected is None:  # evanphx: a missing value tests equal to null
            return
        raise PatchError(f"testing value {path} failed: test failed")
    if not json_equal(actual, expected):
        raise PatchError(f"testing value {path} failed: test failed")
