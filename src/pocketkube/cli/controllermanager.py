"""``pocketkube controller-manager``: kube-controller-manager's flags, upstream names and defaults.

Durations are Go durations (``15s``, ``1m30s``), as upstream's flags take them. Each flag maps
onto one field of ``controllers.context.Options`` (the flag's name with ``_`` for ``-``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

_FILE = click.Path(path_type=Path, dir_okay=False, exists=True)

# flag -> (default, help); durations are given as strings and parsed into seconds.
_DURATIONS: dict[str, tuple[str, str]] = {
    "--leader-elect-lease-duration": ("15s", "How long a leader's lease lasts unrenewed."),
    "--leader-elect-renew-deadline": ("10s", "How long the leader tries to renew before it quits."),
    "--leader-elect-retry-period": ("2s", "How often candidates try to acquire or renew."),
    "--node-monitor-period": ("5s", "How often the node lifecycle controller checks nodes."),
    "--node-monitor-grace-period": (
        "50s",
        "How long a node may go unheard before it is marked unhealthy (Unknown).",
    ),
    "--node-startup-grace-period": ("1m", "How long a starting node may be unready."),
}
_INTS: dict[str, tuple[int, str]] = {
    "--large-cluster-size-threshold": (50, "Zones larger than this evict at the secondary rate."),
    "--terminated-pod-gc-threshold": (12500, "Terminated pods kept before pod GC deletes some."),
    "--node-cidr-mask-size": (24, "The prefix length of each node's podCIDR."),
    "--concurrent-deployment-syncs": (5, "Deployment workers."),
    "--concurrent-replicaset-syncs": (5, "ReplicaSet workers."),
    "--concurrent-rc-syncs": (5, "ReplicationController workers."),
    "--concurrent-endpoint-syncs": (5, "Endpoints workers."),
    "--concurrent-service-endpoint-syncs": (5, "EndpointSlice workers."),
    "--concurrent-gc-syncs": (20, "Garbage collector workers."),
    "--concurrent-namespace-syncs": (10, "Namespace workers."),
    "--concurrent-job-syncs": (5, "Job workers."),
    "--concurrent-cron-job-syncs": (5, "CronJob workers."),
    "--concurrent-daemonset-syncs": (2, "DaemonSet workers."),
    "--concurrent-statefulset-syncs": (5, "StatefulSet workers."),
    "--concurrent-serviceaccount-syncs": (1, "ServiceAccount workers."),
    "--concurrent-ttl-after-finished-syncs": (5, "TTL-after-finished workers."),
    "--concurrent-resource-quota-syncs": (5, "ResourceQuota workers."),
    "--max-endpoints-per-slice": (100, "The most endpoints in one EndpointSlice."),
    "--mirroring-concurrent-service-endpoint-syncs": (5, "EndpointSlice mirroring workers."),
    "--mirroring-max-endpoints-per-subset": (
        1000,
        "The most addresses of one Endpoints subset mirrored to EndpointSlices.",
    ),
}
_FLOATS: dict[str, tuple[float, str]] = {
    "--node-eviction-rate": (0.1, "Nodes per second whose pods are evicted, per healthy zone."),
    "--secondary-node-eviction-rate": (0.01, "The eviction rate of an unhealthy zone."),
    "--unhealthy-zone-threshold": (0.55, "The share of unready nodes that makes a zone unhealthy."),
}
_STRINGS: dict[str, tuple[str, str]] = {
    "--controllers": (
        "*",
        "Controllers to run: names, '*' for those on by default, '-name' to turn one off "
        "(bootstrapsigner and tokencleaner are off by default).",
    ),
    "--cluster-signing-duration": ("8760h", "The longest lifetime of an issued certificate."),
    "--leader-elect-resource-name": ("kube-controller-manager", "The leader election Lease."),
    "--leader-elect-resource-namespace": ("kube-system", "The Lease's namespace."),
    "--cluster-cidr": ("", "The pod network nodes' podCIDRs are allocated from."),
    "--service-cluster-ip-range": ("", "The Service network (kept out of node podCIDRs)."),
}


def _field(flag: str) -> str:
    return flag.removeprefix("--").replace("-", "_")


def _bool_flag(flag: str, default: bool, help_text: str) -> Callable[..., Any]:
    """A Go-style boolean flag: ``--flag`` alone is true, ``--flag=false`` turns it off."""
    return click.option(
        flag,
        type=click.BOOL,
        is_flag=False,
        flag_value=True,
        default=default,
        show_default=True,
        help=help_text,
    )


def _options(command: Callable[..., Any]) -> Callable[..., Any]:
    decorators: list[Callable[[Callable[..., Any]], Callable[..., Any]]] = [
        click.option(
            "--kubeconfig",
            type=_FILE,
            required=True,
            help="The kubeconfig with the controller manager's identity.",
        ),
        click.option(
            "--cluster-signing-cert-file",
            type=_FILE,
            default=None,
            help="The CA certificate csrsigning issues certificates with (PEM).",
        ),
        click.option(
            "--cluster-signing-key-file", type=_FILE, default=None, help="The CA's key (PEM)."
        ),
        click.option(
            "--root-ca-file",
            type=_FILE,
            default=None,
            help="The CA published as kube-root-ca.crt in every namespace.",
        ),
        _bool_flag(
            "--leader-elect",
            True,
            "Run only while holding the leader Lease (for several controller-managers).",
        ),
        _bool_flag("--allocate-node-cidrs", False, "Give each Node a podCIDR from --cluster-cidr."),
    ]
    for flag, (text, help_text) in {**_STRINGS, **_DURATIONS}.items():
        decorators.append(click.option(flag, default=text, show_default=True, help=help_text))
    for flag, (number, help_text) in _INTS.items():
        decorators.append(
            click.option(flag, type=int, default=number, show_default=True, help=help_text)
        )
    for flag, (real, help_text) in _FLOATS.items():
        decorators.append(
            click.option(flag, type=float, default=real, show_default=True, help=help_text)
        )
    for decorator in reversed(decorators):
        command = decorator(command)
    return command


def options_from_flags(flags: dict[str, Any]) -> Any:
    """The ``Options`` the flags describe; ``ConfigError`` for a bad value."""
    from pocketkube.controllers import manager
    from pocketkube.controllers.context import Options

    values = dict(flags)
    values.pop("kubeconfig", None)
    values["controllers"] = manager.parse_controllers(values["controllers"])
    values["cluster_signing_duration"] = manager.parse_duration(values["cluster_signing_duration"])
    for flag in _DURATIONS:
        name = _field(flag)
        values[name] = manager.parse_duration(values[name]).total_seconds()
    return Options(**values)


@click.command("controller-manager")
@_options
def controller_manager(kubeconfig: Path, **flags: Any) -> None:
    """Run kube-controller-manager's controllers against an API server."""
    from pocketkube.controllers import manager
    from pocketkube.controllers.app import run_controller_manager

    try:
        options = options_from_flags(flags)
    except manager.ConfigError as err:
        raise click.UsageError(str(err)) from None
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_controller_manager(kubeconfig=kubeconfig, options=options))
