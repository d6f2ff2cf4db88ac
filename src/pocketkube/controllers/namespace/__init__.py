"""namespace: empties a namespace being deleted, then lets it go (upstream's
``pkg/controller/namespace``).

Deleting a Namespace only marks it (deletionTimestamp, phase Terminating); its
``spec.finalizers`` hold ``kubernetes`` until this controller has deleted every namespaced
object in it — every resource discovery lists, custom resources included (``discovery``) — and
taken that finalizer off through ``namespaces/<name>/finalize`` (``deleter``), reporting each pass
in the NamespaceDeletion* conditions (``conditions``). ``controller`` holds the queue and workers.
"""

from __future__ import annotations

from pocketkube.client import resources
from pocketkube.controllers.base import Controller
from pocketkube.controllers.context import Context
from pocketkube.controllers.namespace.controller import NAME, NamespaceController

__all__ = ["NAME", "NamespaceController", "build"]


def build(ctx: Context) -> Controller:
    return NamespaceController(
        client=ctx.client,
        namespace_informer=ctx.informers.informer(resources.NAMESPACES),
        workers=ctx.options.concurrent_namespace_syncs,
        clock=ctx.clock,
    )
