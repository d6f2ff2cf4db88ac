"""pocketkube: the Kubernetes system, component by component, in Python.

Packages mirror Kubernetes' own split (see docs/architecture.md): ``storage`` is the cluster's
database layer, and every component above it reaches the state only through the API server.
"""

__version__ = "0.1.0"
