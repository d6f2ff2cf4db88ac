"""The node status setters: one function per part of ``status``, as upstream's nodestatus.

Each takes the node (a dict to update in place) and the facts it reports, so the status
manager gathers facts (asynchronously: runtime, images, host) and then runs these pure functions
in upstream's order; tests run them one at a time. The conditions are in ``conditions.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from pocketkube.kubelet.node.capacity import allocatable, capacity, format_resources
from pocketkube.kubelet.node.machineinfo import MachineInfo
from pocketkube.kubelet.node.protocols import Obj
from pocketkube.runtime import cri

MAX_IMAGES = 50  # nodeStatusMaxImages
MAX_NAMES_PER_IMAGE = 5  # MaxNamesPerImageInNodeStatus

RebootedEvent = Callable[[str], None]  # called with the new boot id


def _status(node: Obj) -> Obj:
    status: Obj = node.setdefault("status", {})
    return status


def _node_info(node: Obj) -> Obj:
    info: Obj = _status(node).setdefault("nodeInfo", {})
    return info


def node_address(node: Obj, *, node_ip: str, hostname: str) -> None:
    """NodeAddress without a cloud: the node IP as InternalIP, and the hostname."""
    _status(node)["addresses"] = [
        {"type": "InternalIP", "address": node_ip},
        {"type": "Hostname", "address": hostname},
    ]


def machine_info(
    node: Obj,
    *,
    info: MachineInfo | None,
    max_pods: int,
    reserved: Mapping[str, int],
    rebooted: RebootedEvent,
) -> None:
    """MachineInfo: capacity and allocatable, machine and boot ids.

    Resources someone else advertises (extended resources) stay in capacity; allocatable drops
    extended resources gone from capacity. Without machine info (it could not be read), cpu and
    memory are reported as 0, as upstream does, rather than a guess.
    """
    status = _status(node)
    node_capacity: Obj = status.setdefault("capacity", {})
    if info is None:
        ours = {"cpu": 0, "memory": 0, "pods": max_pods}
    else:
        ours = capacity(info, max_pods=max_pods)
        node_info = _node_info(node)
        node_info["machineID"] = info.machine_id
        node_info["systemUUID"] = info.system_uuid
        previous_boot = node_info.get("bootID", "")
        if previous_boot and previous_boot != info.boot_id:
            rebooted(info.boot_id)
        node_info["bootID"] = info.boot_id
        for name in [name for name in node_capacity if name.startswith("hugepages-")]:
            if name not in ours:
                del node_capacity[name]  # a page size the kernel no longer offers
    node_capacity.update(format_resources(ours))

    node_allocatable: Obj = status.setdefault("allocatable", {})
    for name in list(node_allocatable):
        if name not in node_capacity and (
            is_extended_resource(name) or name.startswith("hugepages-")
        ):
            del node_allocatable[name]
    for name, quantity in node_capacity.items():
        if name not in ours:
            node_allocatable[name] = quantity
    node_allocatable.update(format_resources(allocatable(ours, reserved)))


def is_extended_resource(name: str) -> bool:
    """A resource outside the kubernetes.io domain (devices, vendor resources)."""
    if "/" not in name or name.startswith("requests."):
        return False
    domain = name.split("/", 1)[0]
    return not (domain == "kubernetes.io" or domain.endswith(".kubernetes.io"))


def version_info(
    node: Obj,
    *,
    info: MachineInfo | None,
    runtime: cri.VersionInfo | None,
    runtime_name: str,
    kubelet_version: str,
    kube_proxy_version: str,
) -> None:
    """VersionInfo: kernel, OS image, ``<runtime>://<version>``, kubelet (and kube-proxy)."""
    node_info = _node_info(node)
    if info is not None:
        node_info["kernelVersion"] = info.kernel_version
        node_info["osImage"] = info.os_image
    name = runtime.runtime_name if runtime is not None else runtime_name
    version = runtime.runtime_version if runtime is not None else "Unknown"
    node_info["containerRuntimeVersion"] = f"{name}://{version}"
    node_info["kubeletVersion"] = kubelet_version
    node_info["kubeProxyVersion"] = kube_proxy_version


def daemon_endpoints(node: Obj, *, kubelet_port: int) -> None:
    """DaemonEndpoints: where the kubelet's API listens (``Port`` is capitalised in the API)."""
    _status(node)["daemonEndpoints"] = {"kubeletEndpoint": {"Port": kubelet_port}}


def images(node: Obj, *, listed: Sequence[cri.Image] | None, max_images: int = MAX_IMAGES) -> None:
    """Images: the largest ``max_images`` images (-1: all), at most 5 names each; none at all
    when the image service could not list them."""
    status = _status(node)
    if not listed:
        status.pop("images", None)
        return
    ordered = sorted(listed, key=lambda image: image.size, reverse=True)
    if max_images > -1:
        ordered = ordered[:max_images]
    status["images"] = [
        {
            "names": [*image.repo_digests, *image.repo_tags][:MAX_NAMES_PER_IMAGE],
            "sizeBytes": image.size,
        }
        for image in ordered
    ]


def go_runtime(node: Obj, *, operating_system: str, architecture: str) -> None:
    """GoRuntime: the OS and architecture the kubelet runs on."""
    node_info = _node_info(node)
    node_info["operatingSystem"] = operating_system
    node_info["architecture"] = architecture
