"""deployment: rolls a Deployment's pod template out through ReplicaSets (upstream's
``pkg/controller/deployment``).

A Deployment owns ReplicaSets named ``<deployment>-<pod-template-hash>``: the *new* one carries
its current template, the *old* ones earlier templates. Changing the template creates a new
ReplicaSet (revision = highest old revision + 1, annotation ``deployment.kubernetes.io/revision``)
and moves the replicas over by the strategy: ``RollingUpdate`` within maxSurge/maxUnavailable
(``rolling``), or ``Recreate`` (``recreate``); the replica annotations
(``deployment.kubernetes.io/desired-replicas``, ``max-replicas``) let a scale in the middle of a
rollout be shared out in proportion (``sync.scale``). Going back to an old template (``kubectl
rollout undo``) revives its ReplicaSet under a new revision. Empty old ReplicaSets beyond
``revisionHistoryLimit`` are deleted. The status (replicas, updated, ready, available,
unavailable, Available and Progressing conditions) is what ``kubectl rollout status`` waits on
(``progress``).

Modules: ``controller`` (handlers, dispatch, ReplicaSet adoption), ``sync``, ``rolling``,
``recreate``, ``rollback``, ``progress``, ``util`` (the arithmetic), ``conditions`` and ``hashing``.
"""

from __future__ import annotations

from pocketkube.client import resources
from pocketkube.controllers.base import Controller
from pocketkube.controllers.context import Context


def build(ctx: Context) -> Controller:
    from pocketkube.controllers.deployment.controller import COMPONENT, DeploymentController

    return DeploymentController(
        client=ctx.client,
        recorder=ctx.recorder(COMPONENT),
        deployment_informer=ctx.informers.informer(resources.DEPLOYMENTS),
        replicaset_informer=ctx.informers.informer(resources.REPLICA_SETS),
        pod_informer=ctx.informers.informer(resources.PODS),
        workers=ctx.options.concurrent_deployment_syncs,
        clock=ctx.clock,
    )
