"""The cluster's database: Kubernetes' storage layer (``k8s.io/apiserver/pkg/storage``).

Built in three layers, each replaceable on its own:

- :mod:`~pocketkube.storage.backend`: the etcd-shaped key-value contract (global revision,
  compare-and-swap on a key's revision, watch from any uncompacted revision), implemented by
  :mod:`~pocketkube.storage.sqlite` (embedded, the default), :mod:`~pocketkube.storage.etcd` (a real
  etcd cluster) and :mod:`~pocketkube.storage.memory` (the fake for unit tests);
- :mod:`~pocketkube.storage.store`: Kubernetes object semantics on any backend (resourceVersion,
  preconditions, guaranteed_update, consistent paged lists, filtered watches with bookmarks);
- :mod:`~pocketkube.storage.cacher`: the watch cache in front of it, one per resource prefix.

Only the API server uses this package; every other component reaches the state through the API.
"""
