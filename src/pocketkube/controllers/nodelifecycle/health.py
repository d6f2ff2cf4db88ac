"""Is a node still posting its status? Upstream's ``tryUpdateNodeHealth``, as a pure function.

The controller never trusts the kubelet's timestamps: it remembers, per node, when *it* last
saw the Ready condition's ``lastHeartbeatTime`` change or the node's Lease (kube-node-lease)
``renewTime`` advance (the *probe* time, on the controller's own monotonic clock). When that is
longer ago than the grace period (``--node-monitor-grace-period``, or
``--node-startup-grace-period`` for a node that never posted Ready, counted from its creation),
Ready, MemoryPressure, DiskPressure and PIDPressure become Unknown (``NodeStatusUnknown``,
"Kubelet stopped posting node status.", or ``NodeStatusNeverUpdated`` for a condition never
posted); ``lastHeartbeatTime`` is kept and ``lastTransitionTime`` is now.
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass, replace

from pocketkube.api.timestamps import parse_time, rfc3339
from pocketkube.client.rest import Obj
from pocketkube.controllers.nodelifecycle.nodeutil import READY, condition

# The conditions the controller marks Unknown (not NetworkUnavailable: the control plane owns it).
UNKNOWN_CONDITION_TYPES = (READY, "MemoryPressure", "DiskPressure", "PIDPressure")
STOPPED_REASON, STOPPED_MESSAGE = "NodeStatusUnknown", "Kubelet stopped posting node status."
NEVER_REASON, NEVER_MESSAGE = "NodeStatusNeverUpdated", "Kubelet never posted node status."


@dataclass(frozen=True, kw_only=True)
class NodeHealth:
    """What the controller remembers of a node (upstream's nodeHealthData)."""

    status: Obj
    probe: float  # when the controller last saw the node alive, on its monotonic clock
    ready_transition: float
    lease_seen: bool = False
    lease_renew: dt.datetime | None = None


@dataclass(frozen=True, kw_only=True)
class Assessment:
    grace: float
    observed: Obj  # the Ready condition as the node had it (a made-up Unknown one if none)
    current: Obj | None  # the Ready condition after this pass
    node: Obj  # the node, with conditions marked Unknown when ``write``
    write: bool  # the node's status must be written
    health: NodeHealth  # to remember (after a successful write: see ``after_write``)


def assess(
    node: Obj,
    lease: Obj | None,
    saved: NodeHealth | None,
    *,
    mono: float,
    wall: dt.datetime,
    grace: float,
    startup_grace: float,
) -> Assessment:
    node = copy.deepcopy(node)
    status = node.setdefault("status", {})
    meta = node.get("metadata") or {}
    created_at = meta.get("creationTimestamp")
    created = parse_time(created_at) or wall
    created_mono = mono - max(0.0, (wall - created).total_seconds())
    current = condition(status, READY)
    health = saved
    if current is None:
        observed: Obj = {
            "type": READY,
            "status": "Unknown",
            "lastHeartbeatTime": created_at,
            "lastTransitionTime": created_at,
        }
        grace_period = startup_grace
        if health is not None:
            health = replace(health, status=copy.deepcopy(status))
        else:
            health = NodeHealth(
                status=copy.deepcopy(status), probe=created_mono, ready_transition=created_mono
            )
    else:
        observed = copy.deepcopy(current)
        grace_period = grace

    prev = health  # upstream compares with what it holds after the branch above
    saved_cond = condition(prev.status, READY) if prev is not None else None
    if prev is None:
        health = NodeHealth(status=copy.deepcopy(status), probe=mono, ready_transition=mono)
    elif (saved_cond is None) != (current is None) or (
        saved_cond is not None
        and current is not None
        and saved_cond.get("lastHeartbeatTime") != current.get("lastHeartbeatTime")
    ):
        transition = mono
        if (
            saved_cond is not None
            and current is not None
            and saved_cond.get("lastTransitionTime") == current.get("lastTransitionTime")
        ):
            transition = prev.ready_transition
        health = NodeHealth(
            status=copy.deepcopy(status),
            probe=mono,
            ready_transition=transition,
            lease_seen=prev.lease_seen,
            lease_renew=prev.lease_renew,
        )
    assert health is not None

    # The Lease: its renewTime moving on is as good as a heartbeat.
    if lease is not None:
        renew = parse_time((lease.get("spec") or {}).get("renewTime"))
        if not health.lease_seen or (
            renew is not None and (health.lease_renew is None or health.lease_renew < renew)
        ):
            health = replace(health, lease_seen=True, lease_renew=renew, probe=mono)

    write = False
    if mono > health.probe + grace_period:
        now = rfc3339(wall)
        conditions = status.setdefault("conditions", [])
        for type_ in UNKNOWN_CONDITION_TYPES:
            cond = condition(status, type_)
            if cond is None:
                conditions.append(
                    {
                        "type": type_,
                        "status": "Unknown",
                        "reason": NEVER_REASON,
                        "message": NEVER_MESSAGE,
                        "lastHeartbeatTime": created_at,
                        "lastTransitionTime": now,
                    }
                )
            elif cond.get("status") != "Unknown":
                cond.update(
                    status="Unknown",
                    reason=STOPPED_REASON,
                    message=STOPPED_MESSAGE,
                    lastTransitionTime=now,
                )
        current = condition(status, READY)
        write = current != observed
    return Assessment(
        grace=grace_period,
        observed=observed,
        current=current,
        node=node,
        write=write,
        health=health,
    )


def after_write(assessment: Assessment, *, mono: float) -> NodeHealth:
    """What to remember once the Unknown conditions have been written."""
    return replace(
        assessment.health,
        status=copy.deepcopy(assessment.node.get("status") or {}),
        ready_transition=mono,
    )
