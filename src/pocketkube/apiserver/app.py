"""kube-apiserver: the HTTPS server, its routes, and what it sets up before serving.

On start it makes sure the PKI exists (``pki``), writes the admin kubeconfig, opens a watch
cache for every stored resource, creates the namespaces and PriorityClasses every cluster has,
and serves:

- ``/version``, ``/healthz``, ``/livez``, ``/readyz`` (anonymous, as upstream allows), and a get
  of the ``cluster-info`` ConfigMap in ``kube-public`` that it publishes (``clusterinfo``);
- discovery (``/api``, ``/apis``, both aggregated and legacy forms);
- every resource under ``/api/v1`` and ``/apis/<group>/<version>``.

Authentication is by client certificate (CN = user, O = groups); authorization allows every
authenticated user for now (RBAC comes later, behind the same seam).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from dataclasses import dataclass
from pathlib import Path

import orjson
from aiohttp import web

import pocketkube.apiserver.subresources  # noqa: F401  (registers the subresource handlers)
from pocketkube.api import scheduling, status
from pocketkube.api.status import StatusError
from pocketkube.apiserver import authapis, clusterinfo, discovery, metrics
from pocketkube.apiserver.admission import Attributes, Operation, RegistryReader, new_chain
from pocketkube.apiserver.allocator import service_ip_range
from pocketkube.apiserver.authn import AuthenticatorChain, Unauthenticated, client_certificate
from pocketkube.apiserver.compression import gzip_middleware
from pocketkube.apiserver.conversion import converter_for
from pocketkube.apiserver.conversion.registry import ConvertingRegistry
from pocketkube.apiserver.crds import CRDRegistry, CRDServer
from pocketkube.apiserver.csrs import CSRRegistry
from pocketkube.apiserver.errors import status_middleware, status_response
from pocketkube.apiserver.handlers import ResourceHandler
from pocketkube.apiserver.identity import ANONYMOUS, USER
from pocketkube.apiserver.kubeconfig import write_kubeconfig
from pocketkube.apiserver.kubeletclient import (
    CLIENT_CN,
    CLIENT_GROUPS,
    KUBELET_CLIENT,
    KubeletClient,
    client_ssl_context,
)
from pocketkube.apiserver.namespaces import NamespaceRegistry
from pocketkube.apiserver.openapi import add_openapi_routes
from pocketkube.apiserver.pki import PKI, ensure_pki, issue_client_cert, server_ssl_context
from pocketkube.apiserver.registry import ResourceInfo, ResourceRegistry
from pocketkube.apiserver.resources import Catalog, Resource
from pocketkube.apiserver.resources_builtin import builtin_catalog
from pocketkube.apiserver.services import DEFAULT_SERVICE_CIDR, ServiceRegistry
from pocketkube.apiserver.storagehub import StorageHub
from pocketkube.storage.backend import Backend
from pocketkube.storage.interface import Obj

log = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT = 3.0
BACKLOG = 1024  # connections the kernel queues before accept(): bursts of clients, slowloris
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")

PUBLIC_PATHS = frozenset({"/version", "/version/", "/healthz", "/livez", "/readyz"})


@dataclass
class APIServerConfig:
    data_dir: Path
    bind_address: str = "127.0.0.1"
    port: int = 6443
    tls_sans: tuple[str, ...] = ()
    advertise_host: str = "127.0.0.1"
    kubeconfig_path: Path | None = None
    service_cidr: str = DEFAULT_SERVICE_CIDR
    # Bounds on clients that connect and never finish (slowloris): a TLS handshake must be done
    # within tls_handshake_timeout, and a request's header must have arrived header_timeout after
    # the connection opened or its previous response ended. Upstream has ReadHeaderTimeout 32 s
    # (which bounds its handshake too) and IdleTimeout 90 s; aiohttp has one timer for both
    # header and idle time, so an idle kept-alive connection is closed after 32 s here. Closing
    # a connection waits at most tls_shutdown_timeout for the client to take what is left.
    tls_handshake_timeout: float = 10.0
    header_timeout: float = 32.0
    tls_shutdown_timeout: float = 10.0


class APIServer:
    def __init__(self, *, config: APIServerConfig, backend: Backend) -> None:
        self.config = config
        self.backend = backend
        self.catalog: Catalog = builtin_catalog()
        self.hub = StorageHub(backend)
        self.registries: dict[tuple[str, str, str], ResourceRegistry] = {}
        # Versions served by converting to another version's registry (conversion/).
        self.converting: dict[tuple[str, str, str], ResourceRegistry] = {}
        self.crds = CRDServer(self)
        self.admission = new_chain(RegistryReader(self.registries))
        self._runner: web.AppRunner | None = None
        self._listener: asyncio.Server | None = None
        self.pki: PKI | None = None
        self._kubelet_client: KubeletClient | None = None
        self.port = config.port
        self.authenticators = AuthenticatorChain([client_certificate])
        self.authenticators.authenticators += authapis.install(
            registries=self.registries, pki=lambda: self.pki
        )

    @property
    def kubeconfig_path(self) -> Path:
        return self.config.kubeconfig_path or self.config.data_dir / "admin.kubeconfig"

    @property
    def url(self) -> str:
        return f"https://{self.config.advertise_host}:{self.port}"

    async def start(self) -> None:
        self.pki = await asyncio.to_thread(
            ensure_pki, self.config.data_dir, tls_sans=self.config.tls_sans
        )
        await self._open_registries()
        await self._bootstrap()
        app = web.Application(
            middlewares=[
                metrics.middleware,
                status_middleware,
                gzip_middleware,
                self._authenticate,
            ],
            client_max_size=4 * 1024 * 1024,
        )
        self._routes(app)
        kubelet_cert, kubelet_key = await asyncio.to_thread(
            issue_client_cert,
            self.pki,
            "apiserver-kubelet-client",
            cn=CLIENT_CN,
            groups=CLIENT_GROUPS,
        )
        self._kubelet_client = KubeletClient(
            client_ssl_context(
                ca_file=self.pki.ca_cert, cert_file=kubelet_cert, key_file=kubelet_key
            )
        )
        app[KUBELET_CLIENT] = self._kubelet_client
        # handler_cancellation: a watch whose client went away must end, not wait for events.
        # keepalive_timeout: aiohttp's timer runs from the connection's start (and from each
        # response's end) and closes the connection if no complete request header came by then;
        # it never interrupts a request being handled, so watches are not cut.
        self._runner = web.AppRunner(
            app,
            access_log=None,
            handle_signals=False,
            handler_cancellation=True,
            shutdown_timeout=SHUTDOWN_TIMEOUT,
            keepalive_timeout=self.config.header_timeout,
        )
        await self._runner.setup()
        assert self._runner.server is not None
        context: ssl.SSLContext = server_ssl_context(self.pki)
        # Listening without a TCPSite, which cannot pass the TLS handshake timeout on; the
        # runner still owns the connections (and closes them in cleanup()).
        self._listener = await asyncio.get_running_loop().create_server(
            self._runner.server,
            self.config.bind_address,
            self.config.port,
            ssl=context,
            ssl_handshake_timeout=self.config.tls_handshake_timeout,
            ssl_shutdown_timeout=self.config.tls_shutdown_timeout,
            backlog=BACKLOG,
        )
        if self.config.port == 0 and self._listener.sockets:
            self.port = self._listener.sockets[0].getsockname()[1]
        await self._publish_kubernetes_service()
        await clusterinfo.publish(
            self.registries[("", "v1", "configmaps")],
            server_url=self.url,
            ca_pem=await asyncio.to_thread(self.pki.ca_cert.read_bytes),
        )
        await asyncio.to_thread(
            write_kubeconfig,
            self.kubeconfig_path,
            server_url=self.url,
            ca_path=self.pki.ca_cert,
            cert_path=self.pki.admin_cert,
            key_path=self.pki.admin_key,
        )

    async def close(self) -> None:
        """Stop listening, end every open watch (closing the caches), then the connections."""
        runner, self._runner = self._runner, None
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()  # not wait_closed(): that waits for connections cleanup() closes
        await self.hub.close()
        if runner is not None:
            await runner.cleanup()
        if self._kubelet_client is not None:
            await self._kubelet_client.close()

    # -- setup ---------------------------------------------------------------------------------
    def _served(self) -> list[Resource]:
        """The stored resources we serve: where several versions share one prefix, the storage
        version, then those we can convert to it (``conversion``)."""
        by_prefix: dict[str, list[Resource]] = {}
        for resource in self.catalog:
            if resource.storage_prefix is not None:
                by_prefix.setdefault(resource.storage_prefix, []).append(resource)
        served, converted = [], []
        for sharing in by_prefix.values():
            for r in sharing:
                if len(sharing) == 1 or r.storage_gvk in (None, r.gvk):
                    served.append(r)
                elif r.storage_gvk and converter_for(r.gvk, r.storage_gvk) is not None:
                    converted.append(r)
        return served + converted

    async def _open_registries(self) -> None:
        for resource in self._served():
            prefix = resource.storage_prefix
            assert prefix is not None
            info = ResourceInfo(
                group=resource.group,
                version=resource.version,
                kind=resource.kind,
                plural=resource.plural,
                namespaced=resource.namespaced,
                storage_prefix=prefix,
            )
            storage = await self.hub.cache(prefix)
            stored_as = resource.storage_gvk or resource.gvk
            converter = converter_for(resource.gvk, stored_as)
            if converter is not None:
                # Kept apart from self.registries, which has one registry per stored resource.
                inner = self.registries[(stored_as.group, stored_as.version, resource.plural)]
                self.converting[resource.gvr] = ConvertingRegistry(
                    info=info, inner=inner, converter=converter
                )
            elif resource.gvr == ("", "v1", "services"):
                self.registries[resource.gvr] = ServiceRegistry(
                    info=info,
                    storage=storage,
                    ranges=self.hub.storage,
                    service_cidr=self.config.service_cidr,
                )
            elif resource.plural == "customresourcedefinitions":
                self.registries[resource.gvr] = CRDRegistry(info=info, storage=storage)
            elif resource.plural == "certificatesigningrequests":
                self.registries[resource.gvr] = CSRRegistry(info=info, storage=storage)
            elif resource.gvr == ("", "v1", "namespaces"):
                self.registries[resource.gvr] = NamespaceRegistry(info=info, storage=storage)
            else:
                self.registries[resource.gvr] = ResourceRegistry(info=info, storage=storage)
        await self.crds.start()

    def registry_for(self, resource: Resource) -> ResourceRegistry | None:
        return self.registries.get(resource.gvr) or self.converting.get(resource.gvr)

    async def _bootstrap(self) -> None:
        """What every cluster has: the system namespaces and the system PriorityClasses (upstream's
        ``scheduling/bootstrap-system-priority-classes`` hook; existing ones are left as they
        are)."""
        namespaces = self.registries[("", "v1", "namespaces")]
        for name in SYSTEM_NAMESPACES:
            await _create_if_missing(namespaces, "", {"metadata": {"name": name}})
        priority_classes = self.registries[("scheduling.k8s.io", "v1", "priorityclasses")]
        for priority_class in scheduling.system_priority_classes():
            await _create_if_missing(priority_classes, "", priority_class)

    async def _publish_kubernetes_service(self) -> None:
        """The ``kubernetes`` service in ``default``: the first address of the service CIDR,
        port 443, and endpoints pointing at this API server."""
        span = service_ip_range(self.config.service_cidr)
        first_ip = span.show(span.base)
        service = {
            "metadata": {
                "name": "kubernetes",
                "labels": {"component": "apiserver", "provider": "kubernetes"},
            },
            "spec": {
                "clusterIP": first_ip,
                "ports": [
                    {"name": "https", "port": 443, "protocol": "TCP", "targetPort": self.port}
                ],
            },
        }
        await _create_if_missing(self.registries[("", "v1", "services")], "default", service)
        address, port = self.config.advertise_host, self.port
        endpoints = {
            "metadata": {
                "name": "kubernetes",
                "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"},
            },
            "subsets": [
                {
                    "addresses": [{"ip": address}],
                    "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
                }
            ],
        }
        slice_ = {
            "metadata": {
                "name": "kubernetes",
                "labels": {"kubernetes.io/service-name": "kubernetes"},
            },
            "addressType": "IPv4",
            "endpoints": [{"addresses": [address], "conditions": {"ready": True}}],
            "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
        }
        await _replace(self.registries[("", "v1", "endpoints")], "default", endpoints)
        await _replace(
            self.registries[("discovery.k8s.io", "v1", "endpointslices")], "default", slice_
        )

    async def _admit_create(self, resource: Resource, namespace: str, obj: Obj) -> None:
        """The admission chain on a create, changing ``obj`` in place (or refusing it)."""
        await self.admission.admit(Attributes(resource=resource, namespace=namespace, obj=obj))

    async def _admit_update(
        self, resource: Resource, namespace: str, obj: Obj, old: Obj, subresource: str
    ) -> None:
        """The admission chain on an update of ``old`` to ``obj`` (changed in place)."""
        await self.admission.admit(
            Attributes(
                resource=resource,
                namespace=namespace,
                obj=obj,
                operation=Operation.UPDATE,
                old=old,
                subresource=subresource,
            )
        )

    # -- HTTP ----------------------------------------------------------------------------------
    @web.middleware
    async def _authenticate(self, request: web.Request, handler: object) -> web.StreamResponse:
        try:
            identity = await self.authenticators.authenticate(request)
        except Unauthenticated:
            return status_response(status.unauthorized())
        if (
            identity is None
            and request.path not in PUBLIC_PATHS
            and not clusterinfo.anonymous_may(request.method, request.path, request.query)
        ):
            return status_response(status.unauthorized())
        request[USER] = identity or ANONYMOUS
        response: web.StreamResponse = await handler(request)  # type: ignore[operator]
        return response

    def _routes(self, app: web.Application) -> None:
        resources = ResourceHandler(
            catalog=self.catalog,
            registry_for=self.registry_for,
            admit_create=self._admit_create,
            admit_update=self._admit_update,
        )
        app.router.add_get("/version", self._version)
        app.router.add_get("/version/", self._version)
        for check in ("/healthz", "/livez", "/readyz"):
            app.router.add_get(check, self._health)
        app.router.add_get("/api", self._discovery_core)
        app.router.add_get("/api/", self._discovery_core)
        app.router.add_get("/apis", self._discovery_groups)
        app.router.add_get("/apis/", self._discovery_groups)
        app.router.add_get("/api/v1", self._resource_list_core)
        app.router.add_get("/apis/{group}", self._group)
        app.router.add_get("/apis/{group}/{version}", self._resource_list)
        add_openapi_routes(app, self.catalog, self.crds.schema_of)
        metrics.add_route(app, catalog=self.catalog, registries=self.registries)
        app.router.add_route("*", "/api/{tail:.+}", resources.handle)
        app.router.add_route("*", "/apis/{tail:.+}", resources.handle)

    async def _version(self, request: web.Request) -> web.Response:
        return _json(discovery.version_info())

    async def _health(self, request: web.Request) -> web.Response:
        checks = ["ping", "log", "etcd"]
        try:
            await asyncio.wait_for(self.backend.current_revision(), 5)
            healthy = True
        except Exception:  # any datastore failure makes the check fail, not the endpoint
            healthy = False
        if "verbose" in request.query:
            lines = [f"[+]{c} ok" if healthy or c != "etcd" else f"[-]{c} failed" for c in checks]
            name = request.path.strip("/")
            lines.append(f"{name} check passed" if healthy else f"{name} check failed")
            return web.Response(text="\n".join(lines) + "\n", status=200 if healthy else 500)
        return web.Response(text="ok" if healthy else "etcd failed", status=200 if healthy else 500)

    def _aggregated(self, request: web.Request, core: bool) -> web.Response | None:
        version = discovery.wants_aggregated(request.headers.get("Accept", ""))
        if version is None:
            return None
        build = discovery.aggregated_core if core else discovery.aggregated_groups
        doc = build(self.catalog, version=version)
        return web.Response(
            body=orjson.dumps(doc),
            headers={"Content-Type": discovery.aggregated_content_type(version)},
        )

    async def _discovery_core(self, request: web.Request) -> web.Response:
        aggregated = self._aggregated(request, core=True)
        if aggregated is not None:
            return aggregated
        address = f"{self.config.advertise_host}:{self.port}"
        return _json(discovery.api_versions(server_address=address))

    async def _discovery_groups(self, request: web.Request) -> web.Response:
        aggregated = self._aggregated(request, core=False)
        if aggregated is not None:
            return aggregated
        return _json(discovery.api_group_list(self.catalog))

    async def _resource_list_core(self, request: web.Request) -> web.Response:
        return _json(discovery.api_resource_list(self.catalog, "", "v1"))

    async def _group(self, request: web.Request) -> web.Response:
        group = request.match_info["group"]
        doc = discovery.api_group(self.catalog, group)
        if doc is None:
            raise web.HTTPNotFound()
        return _json(doc)

    async def _resource_list(self, request: web.Request) -> web.Response:
        group, version = request.match_info["group"], request.match_info["version"]
        doc = discovery.api_resource_list(self.catalog, group, version)
        if doc is None:
            raise web.HTTPNotFound()
        return _json(doc)


async def _create_if_missing(registry: ResourceRegistry, namespace: str, obj: Obj) -> None:
    try:
        await registry.get(namespace, obj["metadata"]["name"])
        return
    except StatusError as err:
        if err.code != 404:
            raise
    try:
        await registry.create(namespace, obj)
    except StatusError as err:
        if err.code != 409:
            raise


async def _replace(registry: ResourceRegistry, namespace: str, obj: Obj) -> None:
    """Create ``obj``, or make the stored one say what ``obj`` says."""
    try:
        await registry.create(namespace, obj)
        return
    except StatusError as err:
        if err.code != 409:
            raise

    async def same(current: Obj) -> Obj:
        return {**obj, "metadata": {**current["metadata"], **obj["metadata"]}}

    await registry.update(namespace, obj["metadata"]["name"], same, dry_run=False)


def _json(obj: object) -> web.Response:
    return web.Response(body=orjson.dumps(obj), content_type="application/json")
