"""Volumes: a pod's ``spec.volumes`` as directories on the node, and where containers see them.

The kubelet's volume manager sets up every volume of a pod before its containers start
(``VolumeManager.mount_pod``), refreshes ConfigMap, Secret, downwardAPI and token contents on
each sync, and removes them when the pod goes. One module per volume plugin (emptyDir,
configMap, secret, downwardAPI, projected, hostPath), the atomic writer that updates a volume's
files in one rename, a token manager for projected service-account tokens, and ``VolumeSource``:
where ConfigMaps, Secrets and tokens come from (the API server, or a fake in tests).
``container_mounts`` turns a container's ``volumeMounts`` into CRI mounts.

Import from the modules (``volumes.manager.VolumeManager``, ``volumes.source.ClientVolumeSource``,
``volumes.mounts.container_mounts``, ``volumes.fake.FakeVolumeSource``): this package imports
nothing itself, so that ``kubelet.envvars`` (which mounts.py uses) can use ``volumes.source``.
"""
