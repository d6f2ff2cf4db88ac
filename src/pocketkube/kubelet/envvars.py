"""A container's environment: ``env``, ``envFrom``, service links and ``$(VAR)`` expansion.

The kubelet builds the environment when it creates a container, not when the pod is admitted,
because ``valueFrom`` sources (ConfigMaps, Secrets, the pod's IP, node allocatable) only have
their values then; this is upstream's ``makeEnvironmentVariables`` (pkg/kubelet/kubelet_pods.go):

1. ``envFrom`` sources in order (a later one overrides an earlier one), keys with ``prefix``;
   keys that are not valid variable names are skipped and reported (upstream's
   InvalidEnvironmentVariableNames event) through ``warn``;
2. ``env`` in order, overriding ``envFrom``: a ``value`` is expanded with ``$(VAR)`` references
   to the variables defined *before it* and the service variables, a ``valueFrom`` is resolved;
3. the service variables (``<NAME>_SERVICE_HOST`` ... of every service with a cluster IP in the
   pod's namespace when ``enableServiceLinks``, and always the master ``kubernetes`` service of
   ``default``) that the container does not define itself.

Any failure raises ``EnvError`` with upstream's message (``configmap "x" not found``,
``couldn't find key k in ConfigMap ns/x``), which the kubelet shows as the container's
CreateContainerConfigError. Secret values are bytes; invalid UTF-8 in them is replaced (the
runtime takes ``str``), where upstream passes the bytes through.

``expand`` is third_party/forked/golang/expansion: ``$$`` is a literal ``$``, an undefined
``$(VAR)`` stays as written, an unterminated ``$(`` is copied.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pocketkube.kubelet import fieldpath
from pocketkube.kubelet.volumes.source import (
    NotFoundError,
    SourceError,
    VolumeSource,
    secret_data,
)

Obj = dict[str, Any]
Warn = Callable[[str, str], None]  # (reason, message) for a Warning event on the pod
MASTER_SERVICES = frozenset({"kubernetes"})
_ENV_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")


class EnvError(Exception):
    """The container cannot be configured; ``message`` is CreateContainerConfigError's."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def expand(text: str, mapping: Callable[[str], str | None]) -> str:
    """Replace ``$(NAME)`` by ``mapping(NAME)``; a None mapping leaves the reference as is."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char != "$" or i + 1 == n:
            out.append(char)
            i += 1
            continue
        following = text[i + 1]
        if following == "$":
            out.append("$")
            i += 2
        elif following == "(":
            close = text.find(")", i + 2)
            if close < 0:
                out.append("$(")
                i += 2
                continue
            name = text[i + 2 : close]
            value = mapping(name)
            out.append(f"$({name})" if value is None else value)
            i = close + 1
        else:
            out.append("$" + following)
            i += 2
    return "".join(out)


def mapping_for(*contexts: Mapping[str, str]) -> Callable[[str], str | None]:
    """The first context that defines a name wins (upstream's ``MappingFuncFor``)."""

    def lookup(name: str) -> str | None:
        for context in contexts:
            if name in context:
                return context[name]
        return None

    return lookup


def expand_command(
    command: Sequence[str], args: Sequence[str], env: Iterable[tuple[str, str]]
) -> tuple[list[str], list[str]]:
    """A container's ``command`` and ``args`` with ``$(VAR)`` taken from its environment."""
    lookup = mapping_for(dict(env))
    return [expand(c, lookup) for c in command], [expand(a, lookup) for a in args]


def _env_name(name: str) -> str:
    return name.replace("-", "_").upper()


def _service_vars(service: Obj) -> list[tuple[str, str]]:
    """One service's variables, as upstream's ``envvars.FromServices`` and Docker links."""
    spec = service.get("spec") or {}
    ip, ports = str(spec.get("clusterIP") or ""), spec.get("ports") or []
    if not ip or ip == "None" or not ports:
        return []
    prefix = _env_name(str(service["metadata"]["name"]))
    port_var = f"{prefix}_SERVICE_PORT"
    out = [(f"{prefix}_SERVICE_HOST", ip), (port_var, str(ports[0]["port"]))]
    out += [(f"{port_var}_{_env_name(p['name'])}", str(p["port"])) for p in ports if p.get("name")]
    host = f"[{ip}]" if ":" in ip else ip
    for index, port in enumerate(ports):
        protocol = str(port.get("protocol") or "TCP")
        url = f"{protocol.lower()}://{host}:{port['port']}"
        if index == 0:
            out.append((f"{prefix}_PORT", url))
        name = f"{prefix}_PORT_{port['port']}_{protocol.upper()}"
        out += [(name, url), (f"{name}_PROTO", protocol.lower())]
        out += [(f"{name}_PORT", str(port["port"])), (f"{name}_ADDR", ip)]
    return out


def service_environment(
    services: Iterable[Obj], *, namespace: str, enable_service_links: bool
) -> dict[str, str]:
    """The service variables a pod of ``namespace`` sees (upstream's getServiceEnvVarMap)."""
    chosen: dict[str, Obj] = {}
    for service in services:
        meta = service.get("metadata") or {}
        ip = (service.get("spec") or {}).get("clusterIP")
        if not ip or ip == "None":
            continue
        name = str(meta.get("name", ""))
        if meta.get("namespace") == "default" and name in MASTER_SERVICES:
            chosen.setdefault(name, service)
        elif meta.get("namespace") == namespace and enable_service_links:
            chosen[name] = service
    env: dict[str, str] = {}
    for name in sorted(chosen):
        env.update(_service_vars(chosen[name]))
    return env


def _reference(holder: Obj, configmap_field: str, secret_field: str) -> tuple[str, Obj]:
    if holder.get(configmap_field):
        return "ConfigMap", holder[configmap_field]
    return "Secret", holder.get(secret_field) or {}


def object_data(kind: str, obj: Obj) -> dict[str, str]:
    """What a ConfigMap's ``data`` (not ``binaryData``, as upstream) or a Secret's decoded
    ``data`` gives the environment."""
    if kind == "ConfigMap":
        return {k: str(v) for k, v in (obj.get("data") or {}).items()}
    try:
        data = secret_data(obj)
    except SourceError as err:
        raise EnvError(err.message) from None
    return {k: v.decode("utf-8", errors="replace") for k, v in data.items()}


@dataclass
class _Resolver:
    """Resolves one container's variable sources; each ConfigMap and Secret is read once."""

    source: VolumeSource
    pod: Obj
    container: Obj
    namespace: str
    pod_ips: Sequence[str]
    host_ips: Sequence[str]
    node_allocatable: Mapping[str, object]
    seen: dict[tuple[str, str], Obj] = field(default_factory=dict)

    async def get(self, kind: str, name: str, *, optional: bool) -> Obj | None:
        """The object, or None when it is missing and optional."""
        if (kind, name) not in self.seen:
            fetch = self.source.get_configmap if kind == "ConfigMap" else self.source.get_secret
            try:
                self.seen[(kind, name)] = await fetch(self.namespace, name)
            except NotFoundError as err:
                if not optional:
                    raise EnvError(err.message) from None
                return None
            except SourceError as err:
                raise EnvError(err.message) from None
        return self.seen[(kind, name)]

    async def env_from(self, warn: Warn | None) -> dict[str, str]:
        env: dict[str, str] = {}
        for source in self.container.get("envFrom") or []:
            kind, ref = _reference(source, "configMapRef", "secretRef")
            name = str(ref.get("name", ""))
            obj = await self.get(kind, name, optional=bool(ref.get("optional")))
            if obj is None:
                continue
            invalid = []
            for key, value in object_data(kind, obj).items():
                full = str(source.get("prefix") or "") + key
                if _ENV_NAME.fullmatch(full) is None:
                    invalid.append(full)
                else:
                    env[full] = value
            if invalid and warn is not None:
                what = "configMap" if kind == "ConfigMap" else "secret"
                warn(
                    "InvalidEnvironmentVariableNames",
                    f"Keys [{', '.join(sorted(invalid))}] from the EnvFrom {what} "
                    f"{self.namespace}/{name} were skipped since they are considered invalid "
                    "environment variable names.",
                )
        return env

    async def value_from(self, value_from: Obj) -> str | None:
        """One ``valueFrom``; None means "optional and missing: leave the variable out"."""
        try:
            if value_from.get("fieldRef"):
                ref = value_from["fieldRef"]
                return fieldpath.pod_field(
                    self.pod, ref, pod_ips=self.pod_ips, host_ips=self.host_ips
                )
            if value_from.get("resourceFieldRef"):
                ref = value_from["resourceFieldRef"]
                return fieldpath.resource_field(
                    ref, self.pod, self.container, self.node_allocatable
                )
        except fieldpath.FieldPathError as err:
            raise EnvError(err.message) from None
        kind, ref = _reference(value_from, "configMapKeyRef", "secretKeyRef")
        name, key, optional = (
            str(ref.get("name", "")),
            str(ref.get("key", "")),
            bool(ref.get("optional")),
        )
        obj = await self.get(kind, name, optional=optional)
        data = {} if obj is None else object_data(kind, obj)
        if key in data:
            return data[key]
        if obj is None or optional:
            return None
        raise EnvError(f"couldn't find key {key} in {kind} {self.namespace}/{name}")


async def make_environment(
    pod: Obj,
    container: Obj,
    *,
    source: VolumeSource,
    pod_ip: str,
    host_ip: str,
    node_name: str,
    services: Iterable[Obj] | None,
    node_allocatable: Mapping[str, object],
    pod_ips: Sequence[str] = (),
    host_ips: Sequence[str] = (),
    warn: Warn | None = None,
) -> list[tuple[str, str]]:
    """The container's environment, in order: its own variables as declared (``envFrom`` keys
    first), then the service variables it does not override.

    ``services`` are the cluster's Services (all namespaces are fine); None means the kubelet
    has not listed them yet, which is an error as upstream (a pod must not miss
    KUBERNETES_SERVICE_HOST). ``node_name`` stands in for ``spec.nodeName`` if the pod lacks it.
    """
    if services is None:
        raise EnvError("services have not yet been read at least once, cannot construct envvars")
    spec = dict(pod.get("spec") or {})
    spec["nodeName"] = spec.get("nodeName") or node_name
    namespace = str((pod.get("metadata") or {}).get("namespace") or "default")
    links = spec.get("enableServiceLinks", True) is not False
    service_env = service_environment(services, namespace=namespace, enable_service_links=links)
    resolver = _Resolver(
        source=source,
        pod={**pod, "spec": spec},
        container=container,
        namespace=namespace,
        pod_ips=list(pod_ips) or ([pod_ip] if pod_ip else []),
        host_ips=list(host_ips) or ([host_ip] if host_ip else []),
        node_allocatable=node_allocatable,
    )
    env = await resolver.env_from(warn)
    lookup = mapping_for(env, service_env)
    for var in container.get("env") or []:
        name, value = str(var["name"]), var.get("value") or ""
        if value:
            env[name] = expand(str(value), lookup)
        elif var.get("valueFrom"):
            resolved = await resolver.value_from(var["valueFrom"])
            if resolved is not None:
                env[name] = resolved
        else:
            env[name] = ""
    return [*env.items(), *((k, v) for k, v in service_env.items() if k not in env)]
