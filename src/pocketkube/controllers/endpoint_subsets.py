"""Endpoints subsets as upstream builds them (``pkg/api/v1/endpoints/util.go`` and the endpoints
controller's ``addEndpointSubset``/``truncateEndpoints``).

- ``repack``: the N-to-M form the API wants: addresses offering the same ports (and
  readiness) share one subset; an address not ready on some port is not ready there; subsets,
  addresses and ports sorted.
- ``truncate``: more than ``MAX_CAPACITY`` (1000) addresses are cut down, each subset in
  proportion (not-ready ones first; past 1000 ready ones, the ready ones too).
"""

from __future__ import annotations

import math
from typing import Any

MAX_CAPACITY = 1000

Address = dict[str, Any]
Port = dict[str, Any]
Subset = dict[str, Any]

_NO_PORT = ("", -1, "", "")  # upstream's sentinel for a subset without ports


def _port_key(port: Port) -> tuple[str, int, str, str]:
    return (
        str(port.get("name") or ""),
        int(port.get("port") or 0),
        str(port.get("protocol") or ""),
        str(port.get("appProtocol") or ""),
    )


def _address_key(address: Address) -> tuple[str, str]:
    return (str(address.get("ip") or ""), str((address.get("targetRef") or {}).get("uid") or ""))


def _port_of(key: tuple[str, int, str, str]) -> Port:
    port: Port = {"port": key[1]}
    if key[0]:
        port["name"] = key[0]
    if key[2]:
        port["protocol"] = key[2]
    if key[3]:
        port["appProtocol"] = key[3]
    return port


def repack(subsets: list[Subset]) -> list[Subset]:
    """Upstream's ``RepackSubsets``."""
    addresses: dict[tuple[str, str], Address] = {}
    by_port: dict[tuple[str, int, str, str], dict[tuple[str, str], bool]] = {}
    for given in subsets:
        ports = [_port_key(p) for p in given.get("ports") or []] or [_NO_PORT]
        for ready, field in ((True, "addresses"), (False, "notReadyAddresses")):
            for address in given.get(field) or []:
                akey = _address_key(address)
                addresses.setdefault(akey, address)
                for port in ports:
                    states = by_port.setdefault(port, {})
                    if states.get(akey, True):  # not ready trumps ready
                        states[akey] = ready
    groups: dict[tuple[tuple[tuple[str, str], bool], ...], list[tuple[str, int, str, str]]] = {}
    for port, states in by_port.items():
        group = groups.setdefault(tuple(sorted(states.items())), [])
        if port != _NO_PORT:
            group.append(port)
    final = []
    for states_key, ports in groups.items():
        subset: Subset = {}
        up = [addresses[a] for a, r in states_key if r]
        not_ready = [addresses[a] for a, r in states_key if not r]
        if up:
            subset["addresses"] = sorted(up, key=_address_key)
        if not_ready:
            subset["notReadyAddresses"] = sorted(not_ready, key=_address_key)
        if ports:
            subset["ports"] = [_port_of(p) for p in sorted(ports)]
        final.append(subset)
    return sorted(final, key=_subset_order)


def _subset_order(subset: Subset) -> tuple[Any, ...]:
    first = (subset.get("addresses") or subset.get("notReadyAddresses") or [{}])[0]
    return (_address_key(first), [_port_key(p) for p in subset.get("ports") or []])


def count(subsets: list[Subset]) -> int:
    return sum(
        len(s.get("addresses") or []) + len(s.get("notReadyAddresses") or []) for s in subsets
    )


def truncate(subsets: list[Subset]) -> bool:
    """Upstream's ``truncateEndpoints``, in place; whether anything was cut."""
    ready = sum(len(s.get("addresses") or []) for s in subsets)
    not_ready = sum(len(s.get("notReadyAddresses") or []) for s in subsets)
    if ready + not_ready <= MAX_CAPACITY:
        return False
    truncate_ready = ready > MAX_CAPACITY
    limit = MAX_CAPACITY if truncate_ready else MAX_CAPACITY - ready
    total = ready if truncate_ready else not_ready
    room = limit
    field = "addresses" if truncate_ready else "notReadyAddresses"
    for subset in subsets:
        have = subset.get(field) or []
        allowed = min(math.ceil(len(have) / total * limit), room)
        kept = have[:allowed]
        if kept:
            subset[field] = kept
        else:
            subset.pop(field, None)
        if truncate_ready:
            subset.pop("notReadyAddresses", None)
        room -= len(kept)
    return True
