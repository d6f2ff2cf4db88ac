"""Container lifecycle hooks: what the kubelet runs right after a container starts (postStart)
and right before it stops one (preStop), as upstream's pkg/kubelet/lifecycle handler runner.

``hooks.HookRunner`` runs one handler (exec, httpGet or sleep) and returns the failure message
for the ``FailedPostStartHook``/``FailedPreStopHook`` events; when to run a hook, how long to let
it run and what a failure means (kill the container) is the kubelet's business. ``fake`` holds a
scripted runner for kubelet tests.
"""

from pocketkube.kubelet.lifecycle.hooks import HookRunner, LifecycleHooks

__all__ = ["HookRunner", "LifecycleHooks"]
