"""Server-side printing: the ``meta.k8s.io/v1`` Table that kube-apiserver returns for
``Accept: application/json;as=Table;v=v1;g=meta.k8s.io``, which is what ``kubectl get`` prints.

Each kind has a printer (column definitions plus a function from one object to its cells),
reproducing upstream's pkg/printers/internalversion/printers.go; kinds without one get the
default table convertor's Name and "Created At", and custom resources get the columns of their
CRD's additionalPrinterColumns (:func:`crd_table`). The server always fills the wide columns
(priority 1); kubectl shows them only with ``-o wide``. Rows carry, per ``includeObject``, no
object, a PartialObjectMetadata (the default) or the whole object.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from pocketkube.apiserver.tables import autoscaling, cluster, core, pods, workloads
from pocketkube.apiserver.tables.common import (
    INCLUDE_OBJECT_VALUES,
    Obj,
    Printer,
    build_table,
    human_duration,
)
from pocketkube.apiserver.tables.crd import crd_column_definitions, crd_table
from pocketkube.apiserver.tables.jsonpath import JSONPathError

__all__ = [
    "INCLUDE_OBJECT_VALUES",
    "JSONPathError",
    "column_definitions",
    "crd_column_definitions",
    "crd_table",
    "has_printer",
    "human_duration",
    "to_table",
]

PRINTERS: dict[str, Printer] = {
    **pods.PRINTERS,
    **core.PRINTERS,
    **workloads.PRINTERS,
    **autoscaling.PRINTERS,
    **cluster.PRINTERS,
}


def _printer(kind: str) -> Printer:
    return PRINTERS.get(kind, cluster.DEFAULT_PRINTER)


def has_printer(kind: str) -> bool:
    """Whether ``kind`` has columns of its own (else it gets the default Name/Created At)."""
    return kind in PRINTERS


def column_definitions(kind: str) -> list[dict[str, Any]]:
    return [c.as_dict() for c in _printer(kind).columns]


def to_table(
    kind: str,
    objects: Iterable[Obj],
    *,
    list_meta: Mapping[str, Any],
    include_object: str = "Metadata",
    now: datetime | None = None,
) -> dict[str, Any]:
    """The Table for ``objects`` of ``kind`` (a list, or a single object in a one-item list).
    ``list_meta`` gives the Table's resourceVersion/continue/remainingItemCount; an unknown
    ``include_object`` raises ValueError (a 400 upstream)."""
    printer = _printer(kind)
    at = now or datetime.now(UTC)
    finish = printer.finish
    return build_table(
        printer.columns,
        objects,
        lambda obj: printer.cells(obj, at),
        list_meta=list_meta,
        include_object=include_object,
        conditions=printer.conditions,
        fixed=printer.fixed,
        finish=None if finish is None else lambda fixed, obj: finish(fixed, obj, at),
        printer=kind,
    )
