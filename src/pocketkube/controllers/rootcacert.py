"""root-ca-cert-publisher: the ``kube-root-ca.crt`` ConfigMap in every namespace (upstream's
``pkg/controller/certificates/rootcacertpublisher``).

Pods read the cluster CA from it (the projected service-account volume mounts its ``ca.crt``)
to verify the API server at ``kubernetes.default.svc``. Keys are namespace names: a namespace is
synced when it is added or becomes Active again, and when its ``kube-root-ca.crt`` is edited or
deleted. The sync creates the ConfigMap, or puts back its ``ca.crt`` (the contents of
``--root-ca-file``) and the ``kubernetes.io/description`` annotation when someone changed them;
other keys and annotations a user added are dropped from ``data`` as upstream does. Without
``--root-ca-file`` the controller declines to run (upstream falls back to the CA in its own
kubeconfig).
"""

from __future__ import annotations

import copy
import logging

from pocketkube.client import resources
from pocketkube.client.clock import Clock
from pocketkube.client.informer import Informer
from pocketkube.client.rest import ApiError, Obj
from pocketkube.controllers.base import ApiClient, Controller
from pocketkube.controllers.context import Context
from pocketkube.controllers.serviceaccount import is_active, namespace_gone_or_terminating

log = logging.getLogger(__name__)

NAME = "root-ca-cert-publisher"
CONFIGMAP_NAME = "kube-root-ca.crt"
DATA_KEY = "ca.crt"
DESCRIPTION_ANNOTATION = "kubernetes.io/description"
DESCRIPTION = (
    "Contains a CA bundle that can be used to verify the kube-apiserver when using internal "
    "endpoints such as the internal service IP or kubernetes.default.svc. No other usage is "
    "guaranteed across distributions of Kubernetes clusters."
)


class RootCACertPublisher(Controller):
    name = NAME

    def __init__(
        self,
        *,
        client: ApiClient,
        namespace_informer: Informer,
        configmap_informer: Informer,
        root_ca: str,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(informers=[namespace_informer, configmap_informer], workers=1, clock=clock)
        self._client = client
        self._namespaces = namespace_informer.store
        self._configmaps = configmap_informer.store
        self._root_ca = root_ca
        namespace_informer.add_handler(on_add=self.enqueue, on_update=self._namespace_updated)
        configmap_informer.add_handler(on_update=self._configmap_updated, on_delete=self._ours)

    def _namespace_updated(self, old: Obj, new: Obj) -> None:
        if is_active(new):
            self.enqueue(new)

    def _configmap_updated(self, old: Obj, new: Obj) -> None:
        self._ours(new)

    def _ours(self, configmap: Obj) -> None:
        meta = configmap.get("metadata") or {}
        if meta.get("name") == CONFIGMAP_NAME and meta.get("namespace"):
            self.queue.add(str(meta["namespace"]))

    async def sync(self, key: str) -> None:
        if not is_active(self._namespaces.get(key)):
            return
        data = {DATA_KEY: self._root_ca}
        current = self._configmaps.get(f"{key}/{CONFIGMAP_NAME}")
        if current is None:
            body = {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": CONFIGMAP_NAME,
                    "annotations": {DESCRIPTION_ANNOTATION: DESCRIPTION},
                },
                "data": data,
            }
            try:
                await self._client.create(resources.CONFIGMAPS.path(namespace=key), body)
            except ApiError as err:
                if err.already_exists or namespace_gone_or_terminating(err):
                    return
                raise
            return
        annotations = (current.get("metadata") or {}).get("annotations") or {}
        if current.get("data") == data and annotations.get(DESCRIPTION_ANNOTATION):
            return
        updated = copy.deepcopy(current)
        updated["data"] = data
        updated["metadata"].setdefault("annotations", {})[DESCRIPTION_ANNOTATION] = DESCRIPTION
        path = resources.CONFIGMAPS.path(namespace=key, name=CONFIGMAP_NAME)
        try:
            await self._client.update(path, updated)
        except ApiError as err:
            if not err.not_found:  # deleted meanwhile: its deletion queues us again
                raise


def build(ctx: Context) -> Controller | None:
    path = ctx.options.root_ca_file
    if path is None:
        log.info("skipping the root CA publisher: no --root-ca-file given")
        return None
    return RootCACertPublisher(
        client=ctx.client,
        namespace_informer=ctx.informers.informer(resources.NAMESPACES),
        configmap_informer=ctx.informers.informer(resources.CONFIGMAPS),
        root_ca=path.read_text(),
        clock=ctx.clock,
    )
