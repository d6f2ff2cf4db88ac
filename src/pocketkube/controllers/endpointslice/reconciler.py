"""Turning a Service's pods into EndpointSlices with little churn (upstream's
``staging/src/k8s.io/endpointslice/reconciler.go``).

Per address type, the desired endpoints are grouped by the port set they resolve to; for each
group the existing slices with that port set keep the endpoints still desired (updated in place
when an endpoint changed, deleted when none is left); the leftover endpoints first fill the
slices being updated anyway (fullest first), then an unchanged slice that fits them all (the
closest fit), then new slices of at most ``max_endpoints`` each. Slices of port sets or address
types no longer wanted, or owned by another Service of that name, are deleted; a Service without
endpoints keeps one empty placeholder slice per address type. ``finalize`` turns a create plus a
delete into an update of the deleted slice and writes the plan; creates are skipped while the
Service is being deleted.
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from pocketkube.client import resources
from pocketkube.client.rest import ApiError, Obj
from pocketkube.controllers.base import ApiClient
from pocketkube.controllers.endpointslice import slices as sl
from pocketkube.controllers.endpointslice import util
from pocketkube.controllers.endpointslice.util import meta

Endpoint = dict[str, Any]


@dataclass
class Plan:
    create: list[Obj] = field(default_factory=list)
    update: list[Obj] = field(default_factory=list)
    delete: list[Obj] = field(default_factory=list)

    def extend(self, other: Plan) -> None:
        self.create += other.create
        self.update += other.update
        self.delete += other.delete


@dataclass
class Desired:
    """The endpoints wanted for one address type, by port set."""

    ports: dict[sl.PortKey, list[dict[str, Any]]] = field(default_factory=dict)
    endpoints: dict[sl.PortKey, dict[sl.EndpointKey, Endpoint]] = field(default_factory=dict)

    def add(self, ports: list[dict[str, Any]], endpoint: Endpoint | None) -> None:
        key = sl.port_key(ports)
        self.ports.setdefault(key, ports)
        group = self.endpoints.setdefault(key, {})
        if endpoint is not None and endpoint.get("addresses"):
            group[sl.endpoint_key(endpoint)] = endpoint


def _pop(desired: dict[sl.EndpointKey, Endpoint]) -> Endpoint:
    """The first endpoint left (``desired`` is kept in key order, for stable slices)."""
    return desired.pop(next(iter(desired)))


def _slice_to_fill(candidates: list[Obj], count: int, max_endpoints: int) -> Obj | None:
    """Upstream's ``getSliceToFill``: the slice ``count`` more endpoints fill most closely."""
    best, best_gap = None, max_endpoints
    for slice_ in candidates:
        gap = max_endpoints - (count + len(slice_.get("endpoints") or []))
        if 0 <= gap < best_gap:
            best, best_gap = slice_, gap
            if gap == 0:
                break
    return best


def reconcile_port_mapping(
    service: Obj,
    existing: list[Obj],
    desired: dict[sl.EndpointKey, Endpoint],
    new: Obj,
    *,
    max_endpoints: int,
    controller: str,
) -> Plan:
    """Upstream's ``reconcileByPortMapping`` for one port set; ``new`` is an empty slice to
    copy for creations."""
    desired = dict(sorted(desired.items()))
    by_name: dict[str, Obj] = {}
    unchanged: list[str] = []
    to_update: list[str] = []
    to_delete: list[str] = []
    for current in existing:
        name = str(meta(current).get("name"))
        by_name[name] = current
        kept: list[Endpoint] = []
        changed = False
        for endpoint in current.get("endpoints") or []:
            want = desired.pop(sl.endpoint_key(endpoint), None)
            if want is not None:
                kept.append(want)
                changed = changed or sl.endpoint_view(want) != sl.endpoint_view(endpoint)
        labels, labels_changed = sl.slice_labels(current, service, controller)
        if changed or len(kept) != len(current.get("endpoints") or []):
            if not kept:
                to_delete.append(name)
                continue
            updated = copy.deepcopy(current)
            updated["endpoints"] = kept
            updated["metadata"]["labels"] = labels
            by_name[name] = updated
            to_update.append(name)
        elif labels_changed:
            updated = copy.deepcopy(current)
            updated["metadata"]["labels"] = labels
            by_name[name] = updated
            to_update.append(name)
        else:
            unchanged.append(name)
    # Fill the slices being written anyway, fullest first.
    if desired and to_update:
        for name in sorted(to_update, key=lambda n: -len(by_name[n]["endpoints"])):
            endpoints = by_name[name]["endpoints"]
            while desired and len(endpoints) < max_endpoints:
                endpoints.append(_pop(desired))
    plan = Plan()
    while desired:
        target = None
        if len(desired) < max_endpoints and unchanged:
            target = _slice_to_fill([by_name[n] for n in unchanged], len(desired), max_endpoints)
        if target is None:
            target = copy.deepcopy(new)
        else:
            target = copy.deepcopy(target)
            by_name[str(meta(target).get("name"))] = target
        endpoints = target.setdefault("endpoints", [])
        while desired and len(endpoints) < max_endpoints:
            endpoints.append(_pop(desired))
        target_name = meta(target).get("name")
        if target_name:
            to_update.append(str(target_name))
            unchanged.remove(str(target_name))
        else:
            plan.create.append(target)
    plan.update = [by_name[n] for n in to_update]
    plan.delete = [by_name[n] for n in to_delete]
    return plan


def reconcile_address_type(
    service: Obj,
    existing: list[Obj],
    desired: Desired,
    address_type: str,
    *,
    max_endpoints: int,
    controller: str = sl.CONTROLLER_NAME,
) -> Plan:
    """Upstream's ``reconcileByAddressType``."""
    plan = Plan()
    by_ports: dict[sl.PortKey, list[Obj]] = {}
    for current in existing:
        if sl.owned_by(current, service):
            by_ports.setdefault(sl.port_key(current.get("ports") or []), []).append(current)
        else:
            plan.delete.append(current)
    for key, endpoints in desired.endpoints.items():
        new = sl.new_slice(service, address_type, desired.ports[key], controller)
        plan.extend(
            reconcile_port_mapping(
                service,
                by_ports.get(key, []),
                endpoints,
                new,
                max_endpoints=max_endpoints,
                controller=controller,
            )
        )
    for key, stale in by_ports.items():
        if key not in desired.endpoints:
            plan.delete += stale
    if len(existing) == len(plan.delete) and not plan.create:
        placeholder = sl.new_slice(service, address_type, [], controller)
        if len(plan.delete) == 1 and _is_placeholder(plan.delete[0], placeholder, service):
            plan.delete = []
        else:
            plan.create.append(placeholder)
    return plan


def _is_placeholder(current: Obj, placeholder: Obj, service: Obj) -> bool:
    return (
        not current.get("endpoints")
        and not current.get("ports")
        and current.get("addressType") == placeholder.get("addressType")
        and util.labels_of(current) == util.labels_of(placeholder)
        and sl.owned_by(current, service)
    )


async def finalize(
    client: ApiClient,
    service: Obj,
    plan: Plan,
    trigger: dt.datetime | None,
    tracker: util.StaleTracker,
    group: str,
    *,
    set_trigger: bool = True,
) -> None:
    """Upstream's ``finalize``: creates that can reuse a slice being deleted become updates;
    then creates (not while the Service is being deleted), updates, deletes."""
    namespace = meta(service).get("namespace")
    creates, updates, deletes = list(plan.create), list(plan.update), []
    for doomed in plan.delete:
        if creates and (
            doomed.get("addressType") == creates[-1].get("addressType")
            and _owned_by_owner(doomed, service)
        ):
            reuse = creates.pop()
            reuse["metadata"].pop("generateName", None)
            reuse["metadata"]["name"] = meta(doomed)["name"]
            reuse["metadata"]["resourceVersion"] = meta(doomed).get("resourceVersion")
            updates.append(reuse)
        else:
            deletes.append(doomed)
    path = resources.ENDPOINT_SLICES.path(namespace=namespace)
    if not meta(service).get("deletionTimestamp"):
        for slice_ in creates:
            if set_trigger:
                util.set_trigger_time(slice_, trigger)
            try:
                created = await client.create(path, slice_)
            except ApiError as err:
                if err.status == 403 and "terminating" in str(err).lower():
                    return  # the namespace is going away: creates keep failing
                raise
            tracker.wrote(group, created)
    for slice_ in updates:
        if set_trigger:
            util.set_trigger_time(slice_, trigger)
        name = meta(slice_)["name"]
        updated = await client.update(
            resources.ENDPOINT_SLICES.path(namespace=namespace, name=name), slice_
        )
        tracker.wrote(group, updated)
    for slice_ in deletes:
        name = meta(slice_)["name"]
        try:
            await client.delete(resources.ENDPOINT_SLICES.path(namespace=namespace, name=name))
        except ApiError as err:
            if not err.not_found:
                raise
        else:
            tracker.deleted(group, slice_)


def _owned_by_owner(slice_: Obj, owner: Obj) -> bool:
    uid = meta(owner).get("uid")
    return any(ref.get("uid") == uid for ref in meta(slice_).get("ownerReferences") or [])
