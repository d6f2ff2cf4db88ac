"""kube-apiserver: the cluster's front door, the one process that reads and writes the storage layer
and serves the Kubernetes REST API over TLS to kubectl and to every component. As in k3s, the
server owns its PKI: on first start it generates in its data directory a cluster CA, a serving
certificate, the service-account signing key and an admin client certificate with its kubeconfig
(:mod:`~pocketkube.apiserver.pki`, :mod:`~pocketkube.apiserver.kubeconfig`), and a restart with the
same data directory reuses them; requests then pass the handler chain authentication →
authorization → admission before they reach a per-resource registry on top of
:mod:`pocketkube.storage`.
"""
