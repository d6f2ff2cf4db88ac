"""The controller manager: which controllers exist, which run, and running them together.

As kube-controller-manager, controllers are named (``csrapproving`` ...) and selected with
``--controllers``: a list of names, ``*`` for every controller on by default, ``-name`` to turn
one off; ``bootstrapsigner`` and ``tokencleaner`` are off by default upstream (kubeadm turns
them on with ``*,bootstrapsigner,tokencleaner``) and here too. A controller's factory may
decline to run (``csrsigning`` without a signing CA), as upstream's init functions do. The
selected controllers share one ``SharedInformers``; ``run`` starts the informers and every
controller in one ``TaskGroup`` and returns only when cancelled (or if one of them fails).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
from collections.abc import Callable, Sequence

from pocketkube.api import bootstraptoken as bt
from pocketkube.api.goduration import duration_seconds
from pocketkube.client import resources
from pocketkube.client.resources import CERTIFICATE_SIGNING_REQUESTS
from pocketkube.controllers import (
    cronjob,
    deployment,
    disruption,
    endpoint,
    endpointslice,
    endpointslicemirroring,
    garbagecollector,
    job,
    namespace,
    nodeipam,
    podgc,
    replicaset,
    resourcequota,
    rootcacert,
    serviceaccount,
    ttlafterfinished,
)
from pocketkube.controllers.base import Controller
from pocketkube.controllers.bootstrap import SECRETS_FIELD_SELECTOR
from pocketkube.controllers.bootstrap.signer import BootstrapSigner
from pocketkube.controllers.bootstrap.tokencleaner import TokenCleaner
from pocketkube.controllers.certificates.approver import CSRApprovingController
from pocketkube.controllers.certificates.authority import FileCA
from pocketkube.controllers.certificates.signer import CSRSigningController
from pocketkube.controllers.context import ConfigError, Context, Options
from pocketkube.controllers.daemonset import controller as daemonset
from pocketkube.controllers.nodelifecycle import controller as nodelifecycle
from pocketkube.controllers.nodelifecycle import tainteviction
from pocketkube.controllers.statefulset import controller as statefulset

__all__ = ["REGISTRY", "ConfigError", "Context", "Options", "build", "run"]

log = logging.getLogger(__name__)


# A controller module's ``build(ctx)``: the controller, or None when it declines to run.
Factory = Callable[[Context], Controller | None]


def _csrapproving(ctx: Context) -> Controller:
    return CSRApprovingController(
        client=ctx.client,
        csr_informer=ctx.informers.informer(CERTIFICATE_SIGNING_REQUESTS),
        clock=ctx.clock,
    )


def _csrsigning(ctx: Context) -> Controller | None:
    cert, key = ctx.options.cluster_signing_cert_file, ctx.options.cluster_signing_key_file
    if cert is None or key is None:
        log.info("skipping the CSR signer: no --cluster-signing-cert-file/key-file given")
        return None
    return CSRSigningController(
        client=ctx.client,
        csr_informer=ctx.informers.informer(CERTIFICATE_SIGNING_REQUESTS),
        ca=FileCA(cert_file=cert, key_file=key),
        duration=ctx.options.cluster_signing_duration,
        clock=ctx.clock,
    )


def _bootstrapsigner(ctx: Context) -> Controller:
    return BootstrapSigner(
        client=ctx.client,
        configmap_informer=ctx.informers.informer(
            resources.CONFIGMAPS,
            namespace=bt.CLUSTER_INFO_NAMESPACE,
            field_selector=f"metadata.name={bt.CLUSTER_INFO_NAME}",
        ),
        secret_informer=ctx.informers.informer(
            resources.SECRETS, namespace=bt.NAMESPACE, field_selector=SECRETS_FIELD_SELECTOR
        ),
        clock=ctx.clock,
    )


def _tokencleaner(ctx: Context) -> Controller:
    return TokenCleaner(
        client=ctx.client,
        secret_informer=ctx.informers.informer(
            resources.SECRETS, namespace=bt.NAMESPACE, field_selector=SECRETS_FIELD_SELECTOR
        ),
        clock=ctx.clock,
    )


# name -> factory, in start order.
REGISTRY: dict[str, Factory] = {
    "csrapproving": _csrapproving,
    "csrsigning": _csrsigning,
    "bootstrapsigner": _bootstrapsigner,
    "tokencleaner": _tokencleaner,
    "podgc": podgc.build,
    "ttl-after-finished": ttlafterfinished.build,
    "disruption": disruption.build,
    "nodelifecycle": nodelifecycle.build,
    "taint-eviction-controller": tainteviction.build,
    "nodeipam": nodeipam.build,
    "daemonset": daemonset.build,
    "replicaset": replicaset.build,
    "replicationcontroller": replicaset.build_replicationcontroller,
    "statefulset": statefulset.build,
    "deployment": deployment.build,
    "namespace": namespace.build,
    "serviceaccount": serviceaccount.build,
    "root-ca-cert-publisher": rootcacert.build,
    "resourcequota": resourcequota.build,
    "garbagecollector": garbagecollector.build,
    "job": job.build,
    "cronjob": cronjob.build,
    "endpoint": endpoint.build,
    "endpointslice": endpointslice.build,
    "endpointslicemirroring": endpointslicemirroring.build,
}
DISABLED_BY_DEFAULT = frozenset({"bootstrapsigner", "tokencleaner"})

# Each controller's client is named after it, as upstream's (its User-Agent ends with the name;
# with RBAC these become the system:serviceaccount:kube-system:<name> identities).
CLIENT_NAMES = {
    "csrapproving": "certificate-controller",
    "csrsigning": "certificate-controller",
    "bootstrapsigner": "bootstrap-signer",
    "tokencleaner": "token-cleaner",
    "podgc": "pod-garbage-collector",
    "ttl-after-finished": "ttl-after-finished-controller",
    "disruption": "disruption-controller",
    "nodelifecycle": "node-controller",
    "taint-eviction-controller": "taint-eviction-controller",
    "nodeipam": "node-controller",
    "daemonset": "daemon-set-controller",
    "replicaset": "replicaset-controller",
    "replicationcontroller": "replication-controller",
    "statefulset": "statefulset-controller",
    "deployment": "deployment-controller",
    "namespace": "namespace-controller",
    "serviceaccount": "service-account-controller",
    "root-ca-cert-publisher": "root-ca-cert-publisher",
    "resourcequota": "resourcequota-controller",
    "garbagecollector": "generic-garbage-collector",
    "job": "job-controller",
    "cronjob": "cronjob-controller",
    "endpoint": "endpoint-controller",
    "endpointslice": "endpointslice-controller",
    "endpointslicemirroring": "endpointslicemirroring-controller",
}


def _named(ctx: Context, name: str) -> Context:
    """``ctx`` with the controller's own client: a view of the process's connections whose
    User-Agent is ``<component UA>/<client name>`` (fakes without views are used as they are)."""
    with_user_agent = getattr(ctx.client, "with_user_agent", None)
    user_agent = getattr(getattr(ctx.client, "config", None), "user_agent", None)
    if with_user_agent is None or not isinstance(user_agent, str):
        return ctx
    client = with_user_agent(f"{user_agent}/{CLIENT_NAMES.get(name, name)}")
    return dataclasses.replace(ctx, client=client)


def parse_controllers(value: str) -> tuple[str, ...]:
    """``--controllers``: comma-separated, each a known name, ``-name`` or ``*``."""
    names = tuple(item.strip() for item in value.split(",") if item.strip())
    for name in names:
        if name != "*" and name.removeprefix("-") not in REGISTRY:
            raise ConfigError(f"{name!r} is not in the list of known controllers")
    return names


def parse_duration(value: str) -> dt.timedelta:
    """A Go duration as upstream's flags take it: ``8760h``, ``1h30m``, ``90s``."""
    try:
        seconds = duration_seconds(value.strip())
    except ValueError:
        raise ConfigError(f"invalid duration {value!r}") from None
    if seconds <= 0:
        raise ConfigError(f"invalid duration {value!r}")
    return dt.timedelta(seconds=seconds)


def is_enabled(name: str, controllers: Sequence[str]) -> bool:
    """Upstream's rule: an explicit ``name`` or ``-name`` wins (first one listed), else ``*``
    turns on the controllers that are on by default."""
    star = False
    for item in controllers:
        if item == name:
            return True
        if item == f"-{name}":
            return False
        if item == "*":
            star = True
    return star and name not in DISABLED_BY_DEFAULT


def build(ctx: Context) -> list[Controller]:
    """The enabled controllers that agreed to run, built on ``ctx.informers``."""
    built = []
    for name, factory in REGISTRY.items():
        if not is_enabled(name, ctx.options.controllers):
            log.info("%s is disabled", name)
            continue
        controller = factory(_named(ctx, name))
        if controller is not None:
            built.append(controller)
    return built


async def run(ctx: Context, controllers: Sequence[Controller]) -> None:
    """Run the shared informers, the event recorders and the controllers until cancelled."""
    async with asyncio.TaskGroup() as group:
        group.create_task(ctx.informers.run())
        for recorder in ctx.recorders.values():
            group.create_task(recorder.run())
        for controller in controllers:
            group.create_task(controller.run())
