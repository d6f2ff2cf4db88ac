"""The Kubernetes object model, as plain functions over JSON-shaped dicts.

Kubernetes keeps the rules every API object obeys in ``k8s.io/apimachinery``: how names, labels and
annotations are validated, how label and field selectors are parsed and matched, and what a
``Status`` error object looks like on the wire. This package holds pocketkube's version of those
rules — meta validation, selectors, Status builders — with upstream's grammar, limits and error
messages, because kubectl and client libraries show those messages to users and sometimes parse
them.

Everything here is pure: no I/O, no clocks, no global state. The API server uses it to validate
requests and shape errors; the client side (informers, listers, kubectl-like tools) will use the
same selectors later.
"""
