"""Discovery documents: how clients learn which groups, versions and resources the server has.

kubectl (1.30+) asks ``/api`` and ``/apis`` once for the aggregated form (apidiscovery.k8s.io/v2,
every group-version and resource in one answer) and only understands it when the Content-Type
says so; without it kubectl cannot map ``pods`` to a URL. The legacy documents (``APIVersions``,
``APIGroupList``, ``APIGroup``, ``APIResourceList``) stay for the Python client, ``kubectl top``
and ``drain``. Everything here is a pure function of a :class:`~.resources.Catalog`, so handlers
can render on every request or cache until a CRD changes the catalog.

Fields left empty are omitted as upstream's Go ``omitempty`` tags do — except that
``singularName`` and ``verbs`` are always present in an ``APIResourceList`` and the core group's
``responseKind`` keeps ``"group": ""``.
"""

from __future__ import annotations

import platform
import sys
from typing import Any

from pocketkube.apiserver.resources import Catalog, Resource

JSON = dict[str, Any]

AGGREGATED_GROUP = "apidiscovery.k8s.io"
AGGREGATED_KIND = "APIGroupDiscoveryList"
AGGREGATED_VERSIONS = ("v2", "v2beta1")


def aggregated_content_type(version: str = "v2") -> str:
    """The exact Content-Type kubectl requires on an aggregated answer."""
    return f"application/json;g={AGGREGATED_GROUP};v={version};as={AGGREGATED_KIND}"


AGGREGATED_CONTENT_TYPE = aggregated_content_type("v2")


# --- content negotiation -------------------------------------------------------------------------


def _media_ranges(accept: str) -> list[tuple[str, dict[str, str]]]:
    """Media ranges with their parameters, most preferred first (by q, then as listed)."""
    ranges: list[tuple[float, int, str, dict[str, str]]] = []
    for index, item in enumerate(accept.split(",")):
        media, *raw_params = item.split(";")
        params: dict[str, str] = {}
        for raw in raw_params:
            key, _, value = raw.strip().partition("=")
            params[key.strip().lower()] = value.strip().strip('"')
        try:
            quality = float(params.pop("q", "1"))
        except ValueError:
            quality = 1.0
        if quality > 0:
            ranges.append((-quality, index, media.strip().lower(), params))
    ranges.sort(key=lambda r: (r[0], r[1]))
    return [(media, params) for _, _, media, params in ranges]


def wants_aggregated(accept: str | None) -> str | None:
    """Which aggregated discovery version (``"v2"`` or ``"v2beta1"``) the Accept header asks for
    ahead of every plain form, or None to answer the legacy document."""
    for media, params in _media_ranges(accept or ""):
        if media not in ("application/json", "application/*", "*/*"):
            continue  # protobuf and the rest: we only speak JSON
        if "as" not in params and "g" not in params:
            return None  # plain JSON comes first: the legacy document
        if (
            params.get("g") == AGGREGATED_GROUP
            and params.get("as") == AGGREGATED_KIND
            and params.get("v") in AGGREGATED_VERSIONS
        ):
            return params["v"]
    return None


# --- aggregated discovery ------------------------------------------------------------------------


def _gvk(group: str, version: str, kind: str) -> JSON:
    return {"group": group, "version": version, "kind": kind}


def _resource_discovery(resource: Resource) -> JSON:
    doc: JSON = {
        "resource": resource.plural,
        "responseKind": _gvk(resource.group, resource.version, resource.kind),
        "scope": resource.scope,
        "singularResource": resource.singular,
        "verbs": list(resource.verbs),
    }
    if resource.short_names:
        doc["shortNames"] = list(resource.short_names)
    if resource.categories:
        doc["categories"] = list(resource.categories)
    if resource.subresources:
        doc["subresources"] = [
            {
                "subresource": sub.name,
                "responseKind": _gvk(sub.group, sub.version, sub.kind),
                "verbs": list(sub.verbs),
            }
            for sub in sorted(resource.subresources, key=lambda s: s.name)
        ]
    return doc


def _group_discovery(catalog: Catalog, group: str) -> JSON:
    metadata = {"name": group} if group else {}
    versions = [
        {
            "version": version,
            "resources": [_resource_discovery(r) for r in catalog.resources(group, version)],
            "freshness": "Current",
        }
        for version in catalog.versions(group)
    ]
    return {"metadata": metadata, "versions": versions}


def _discovery_list(items: list[JSON], version: str) -> JSON:
    return {
        "kind": AGGREGATED_KIND,
        "apiVersion": f"{AGGREGATED_GROUP}/{version}",
        "metadata": {},
        "items": items,
    }


def aggregated_core(catalog: Catalog, *, version: str = "v2") -> JSON:
    """``GET /api`` in aggregated form: the core group alone, its item's name empty."""
    items = [_group_discovery(catalog, "")] if catalog.versions("") else []
    return _discovery_list(items, version)


def aggregated_groups(catalog: Catalog, *, version: str = "v2") -> JSON:
    """``GET /apis`` in aggregated form: every named group, in preferred order."""
    items = [_group_discovery(catalog, group) for group in catalog.groups() if group]
    return _discovery_list(items, version)


# --- legacy discovery ----------------------------------------------------------------------------


def api_versions(*, server_address: str, client_cidr: str = "0.0.0.0/0") -> JSON:
    """``GET /api``: the core group's versions (upstream sends no apiVersion here)."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": client_cidr, "serverAddress": server_address}
        ],
    }


def _group_version_ref(group: str, version: str) -> JSON:
    return {"groupVersion": f"{group}/{version}", "version": version}


def _api_group(catalog: Catalog, group: str) -> JSON:
    versions = catalog.versions(group)
    return {
        "name": group,
        "versions": [_group_version_ref(group, v) for v in versions],
        "preferredVersion": _group_version_ref(group, versions[0]),
    }


def api_group_list(catalog: Catalog) -> JSON:
    """``GET /apis``: every named group with its versions, preferred first."""
    groups = [_api_group(catalog, group) for group in catalog.groups() if group]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(catalog: Catalog, group: str) -> JSON | None:
    """``GET /apis/<group>``, or None when the group is not served."""
    if not group or not catalog.versions(group):
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_api_group(catalog, group)}


def _resource_entries(resource: Resource) -> list[JSON]:
    entry: JSON = {
        "name": resource.plural,
        "singularName": resource.singular,
        "namespaced": resource.namespaced,
        "kind": resource.kind,
        "verbs": list(resource.verbs),
    }
    if resource.short_names:
        entry["shortNames"] = list(resource.short_names)
    if resource.categories:
        entry["categories"] = list(resource.categories)
    if resource.storage_version_hash:
        entry["storageVersionHash"] = resource.storage_version_hash
    entries = [entry]
    for sub in sorted(resource.subresources, key=lambda s: s.name):
        sub_entry: JSON = {
            "name": f"{resource.plural}/{sub.name}",
            "singularName": "",
            "namespaced": resource.namespaced,
        }
        # Only a subresource answering in another group-version names it (Scale, Eviction, ...).
        if (sub.group, sub.version) != (resource.group, resource.version):
            sub_entry["group"] = sub.group
            sub_entry["version"] = sub.version
        sub_entry["kind"] = sub.kind
        sub_entry["verbs"] = list(sub.verbs)
        entries.append(sub_entry)
    return entries


def api_resource_list(catalog: Catalog, group: str, version: str) -> JSON | None:
    """``GET /api/v1`` or ``GET /apis/<group>/<version>``; None when not served.

    Upstream's core list carries no ``apiVersion``; the named groups' lists do.
    """
    resources = catalog.resources(group, version)
    if not resources:
        return None
    doc: JSON = {"kind": "APIResourceList"}
    if group:
        doc["apiVersion"] = "v1"
    doc["groupVersion"] = f"{group}/{version}" if group else version
    doc["resources"] = [entry for r in resources for entry in _resource_entries(r)]
    return doc


# --- /version ------------------------------------------------------------------------------------

KUBERNETES_VERSION = "v1.33.0"


def _platform() -> str:
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        machine, machine or "amd64"
    )
    return f"{sys.platform}/{arch}"


def version_info(
    *,
    git_version: str = KUBERNETES_VERSION,
    git_commit: str = "",
    build_date: str = "1970-01-01T00:00:00Z",
    go_version: str | None = None,
) -> JSON:
    """``GET /version``. kubectl's dispatcher picks its client by the minor reported here."""
    major, minor = git_version.lstrip("v").split(".")[:2]
    min_minor = str(max(int(minor) - 1, 0))
    return {
        "major": major,
        "minor": minor,
        # 1.33 reports its compatibility versions too (KEP-4330).
        "emulationMajor": major,
        "emulationMinor": minor,
        "minCompatibilityMajor": major,
        "minCompatibilityMinor": min_minor,
        "gitVersion": git_version,
        "gitCommit": git_commit,
        "gitTreeState": "clean",
        "buildDate": build_date,
        "goVersion": go_version or f"python{platform.python_version()}",
        "compiler": "gc",
        "platform": _platform(),
    }
