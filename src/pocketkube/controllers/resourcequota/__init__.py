"""resourcequota: ResourceQuota status (``hard`` from the spec, ``used`` counted in the
namespace), as upstream's ``pkg/controller/resourcequota`` with the core evaluators of
``pkg/quota/v1/evaluator/core``.

``usage`` says what each object charges; ``controller`` holds the queue, the informers and the
status writes. Enforcement at admission (upstream's ResourceQuota admission plugin) is not here.
"""

from __future__ import annotations

from pocketkube.client import resources
from pocketkube.controllers.base import Controller
from pocketkube.controllers.context import Context
from pocketkube.controllers.resourcequota.controller import (
    NAME,
    WATCHED,
    ResourceQuotaController,
)

__all__ = ["NAME", "ResourceQuotaController", "build"]


def build(ctx: Context) -> Controller:
    return ResourceQuotaController(
        client=ctx.client,
        quota_informer=ctx.informers.informer(resources.RESOURCE_QUOTAS),
        watched={plural: ctx.informers.informer(res) for plural, res in WATCHED.items()},
        workers=ctx.options.concurrent_resource_quota_syncs,
        clock=ctx.clock,
    )
