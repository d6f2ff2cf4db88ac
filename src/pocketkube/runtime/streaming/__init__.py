"""The runtime's streaming server: what ``kubectl exec|attach|port-forward`` finally talks to.

As in upstream's CRI (staging/src/k8s.io/kubelet/pkg/cri/streaming), the runtime answers the CRI
Exec, Attach and PortForward calls with a one-time URL on a small HTTP server of its own; the
kubelet proxies the client's upgrade request there byte for byte. This server speaks the wire
protocols (remotecommand over WebSocket and SPDY/3.1, port-forward over SPDY/3.1, SPDY inside
WebSocket and the WebSocket channel protocol) and drives a narrow ``Provider`` (``provider.py``)
that each runtime implements with its own exec, attach and port-forward primitives.
"""
