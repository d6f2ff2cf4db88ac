"""garbagecollector: deletes objects whose owners are gone (upstream's
``pkg/controller/garbagecollector``).

- ``discovery``: the deletable resources (list, watch and delete; custom resources included;
  events ignored) and the kind → resource mapper, re-read every 30 s;
- ``monitors``: a metadata-only informer per deletable resource, started and stopped as
  discovery changes;
- ``graph``: the ownership graph built from their events (virtual owners, transitions into
  foreground or orphan deletion), over ``nodes`` (identities, references, the absent-owner
  cache);
- ``collector``: the workers' decisions (background, foreground, orphan propagation) and
  ``operations`` their writes.
"""

from __future__ import annotations

import logging

from pocketkube.client.informer import ListWatcher
from pocketkube.controllers.base import Controller
from pocketkube.controllers.context import Context
from pocketkube.controllers.garbagecollector.collector import NAME, GarbageCollector

__all__ = ["NAME", "GarbageCollector", "build"]

log = logging.getLogger(__name__)

COMPONENT = "garbage-collector-controller"


def build(ctx: Context) -> Controller | None:
    client = ctx.client
    if not (hasattr(client, "list") and hasattr(client, "watch")):
        log.warning("skipping the garbage collector: its client can neither list nor watch")
        return None
    list_watcher: ListWatcher = client  # type: ignore[assignment]
    return GarbageCollector(
        client=client,
        list_watcher=list_watcher,
        recorder=ctx.recorder(COMPONENT),
        workers=ctx.options.concurrent_gc_syncs,
        clock=ctx.clock,
    )
