"""Per-kind defaults applied on create, as upstream's strategies' PrepareForCreate and the
defaulting functions do. Kinds without an entry need none (yet)."""

from __future__ import annotations

from collections.abc import Callable

from pocketkube.storage.interface import Obj

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


def _namespace(obj: Obj) -> None:
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    obj["status"] = {"phase": "Active"}
    labels = obj["metadata"].setdefault("labels", {})
    labels[NAMESPACE_NAME_LABEL] = obj["metadata"]["name"]


def _secret(obj: Obj) -> None:
    obj.setdefault("type", "Opaque")


CREATE_DEFAULTS: dict[str, Callable[[Obj], None]] = {
    "Namespace": _namespace,
    "Secret": _secret,
}


def apply_create_defaults(kind: str, obj: Obj) -> None:
    defaulter = CREATE_DEFAULTS.get(kind)
    if defaulter is not None:
        defaulter(obj)
