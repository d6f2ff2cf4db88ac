"""The client: the only way pocketkube's components reach the Kubernetes API server.

Kubernetes components (the scheduler, controllers, the kubelet) never share memory with the API
server; they read and write the cluster through its REST API, as client-go arranges for Go
components. This package is pocketkube's client-go:

- ``config``: ``load_kubeconfig`` → ``ClientConfig`` (server, CA, client certificate or token);
- ``rest``: ``Client``, one aiohttp connection pool with JSON requests, ``ApiError`` carrying the
  server's ``Status``, and watch streams of ``WatchEvent``;
- ``resources``: ``Resource`` and the built-in ones (``PODS``, ``DEPLOYMENTS`` ...), which turn
  a group, version, namespace and name into a URL path;
- ``informer`` and ``store``: list+watch into a local ``Store`` with indexers and event handlers
  (client-go's shared informer, reflector and indexer);
- ``workqueue``, ``ratelimit`` and ``clock``: the deduplicating, per-key exclusive, rate-limited
  queue controllers' workers take keys from;
- ``events``: ``EventRecorder``, events.k8s.io/v1 Events with repeats folded into a series.

Everything is asyncio and structured: a ``Client`` is an async context manager, and informers and
event recorders are long-running ``run()`` coroutines their owner starts in its ``TaskGroup``.
It imports only ``pocketkube.api`` of pocketkube, never the API server or the storage.
"""

from pocketkube.client.clock import Clock, FakeClock, RealClock
from pocketkube.client.config import ClientConfig, ConfigError, load_kubeconfig
from pocketkube.client.events import EventRecorder, object_reference
from pocketkube.client.informer import Informer
from pocketkube.client.resources import Resource
from pocketkube.client.rest import ApiError, Client, TransportError, WatchEvent
from pocketkube.client.store import NAMESPACE_INDEX, Store, key_of, namespace_index, split_key
from pocketkube.client.workqueue import ShutDown, WorkQueue

__all__ = [
    "NAMESPACE_INDEX",
    "ApiError",
    "Client",
    "ClientConfig",
    "Clock",
    "ConfigError",
    "EventRecorder",
    "FakeClock",
    "Informer",
    "RealClock",
    "Resource",
    "ShutDown",
    "Store",
    "TransportError",
    "WatchEvent",
    "WorkQueue",
    "key_of",
    "load_kubeconfig",
    "namespace_index",
    "object_reference",
    "split_key",
]
