"""Named network namespaces for pod sandboxes, made with iproute2's ``ip netns``.

A pod's network namespace must outlive every process in it (the sandbox exists before its
containers start and between their restarts) and must survive a restart of the kubelet, so it is
a *named* namespace: ``ip netns add`` bind-mounts it at ``/run/netns/<name>``, where the CNI
plugins, the shim (``setns``) and ``ip netns exec`` find it by path. The name is derived from the
sandbox id (``pk-<first 12 characters>``), so a restarted runtime finds it again without any
state of its own, and so does a teardown after a crash.

``/run`` is a tmpfs: after a reboot the namespaces are gone, which is why a teardown must work
without one (CNI's DEL then runs with an empty ``CNI_NETNS``, as the spec allows).

``KernelNetns`` does what ``ip netns add/delete`` do, with the same system calls, from a thread
of ours instead of a child process: a pod start costs one process execution less (when many
pods start at once, the kubelet's CPU is what they wait for). ``IpNetns`` runs iproute2 itself.
``NetnsManager`` is the protocol the network code uses so that unit tests can run without root.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import os
import shutil
import threading
from pathlib import Path
from typing import Protocol

from pocketkube.runtime import cri

NETNS_DIR = Path("/run/netns")  # iproute2's NETNS_RUN_DIR
PREFIX = "pk-"
CLONE_NEWNET = 0x40000000
MS_BIND = 0x1000
MS_REC = 0x4000
MS_SHARED = 1 << 20
MNT_DETACH = 2


def netns_name(sandbox_id: str) -> str:
    """The namespace name of a sandbox: short enough to read, unique enough (48 bits)."""
    return PREFIX + sandbox_id[:12]


class NetnsError(cri.RuntimeError_):
    """``ip netns`` failed; the message carries its stderr."""

    def __init__(self, message: str) -> None:
        super().__init__("Internal", message)


class NetnsManager(Protocol):
    def path(self, name: str) -> str: ...
    def exists(self, name: str) -> bool: ...
    async def create(self, name: str) -> str:
        """Create the namespace (its loopback is down until CNI's loopback plugin runs); return
        its path. Fails if it exists."""
        ...

    async def delete(self, name: str) -> None:
        """Delete the namespace; a missing one is not an error."""
        ...

    def available(self) -> str:
        """Why namespaces cannot be made here ("" when they can)."""
        ...


class IpNetns:
    """Network namespaces through the ``ip`` command (iproute2)."""

    def __init__(self, *, ip: str = "ip", netns_dir: Path = NETNS_DIR) -> None:
        self._ip = ip
        self._dir = netns_dir

    def path(self, name: str) -> str:
        return str(self._dir / name)

    def exists(self, name: str) -> bool:
        return (self._dir / name).exists()

    def available(self) -> str:
        if shutil.which(self._ip) is None:
            return f"{self._ip!r} (iproute2) not found in $PATH"
        return ""

    async def create(self, name: str) -> str:
        await self._run("netns", "add", name)
        return self.path(name)

    async def delete(self, name: str) -> None:
        if not self.exists(name):
            return
        try:
            await self._run("netns", "delete", name)
        except NetnsError:
            if self.exists(name):  # else someone else deleted it meanwhile: that is fine
                raise

    async def _run(self, *args: str) -> None:
        proc = await asyncio.create_subprocess_exec(
            self._ip,
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await proc.communicate()
        if proc.returncode != 0:
            text = err.decode(errors="replace").strip()
            raise NetnsError(f"ip {' '.join(args)}: {text or f'exit status {proc.returncode}'}")


class KernelNetns:
    """Network namespaces made as iproute2 makes them (ip/ipnetns.c), without running it.

    ``create``: the namespace directory becomes a shared mount point (so that a namespace
    unmounted in one mount namespace is unmounted in all, and freed sooner), an empty file is
    made for the namespace, and a thread of ours unshares its network namespace and bind-mounts
    it there. ``unshare`` changes only the calling thread, which ends right after, so nothing
    else of the kubelet ever runs in the new namespace. ``delete``: a lazy unmount, then the
    file goes."""

    def __init__(self, *, netns_dir: Path = NETNS_DIR) -> None:
        self._dir = netns_dir
        self._shared = False
        self._share_lock = threading.Lock()  # creating threads may race to share the dir

    def path(self, name: str) -> str:
        return str(self._dir / name)

    def exists(self, name: str) -> bool:
        return (self._dir / name).exists()

    def available(self) -> str:
        if os.geteuid() != 0:
            return "network namespaces need root"
        if not os.path.exists("/proc/thread-self/ns/net"):
            return "/proc/thread-self/ns/net not found"
        return ""

    async def create(self, name: str) -> str:
        path = self.path(name)
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def report(err: BaseException | None) -> None:
            if done.done():
                return
            if err is None:
                done.set_result(None)
            else:
                done.set_exception(err)

        def work() -> None:
            try:
                self._create(name, path)
            except BaseException as err:  # reported to the awaiting task
                loop.call_soon_threadsafe(report, err)
            else:
                loop.call_soon_threadsafe(report, None)

        threading.Thread(target=work, name="pk-netns", daemon=True).start()
        await asyncio.shield(done)  # the thread finishes its system calls in any case
        return path

    async def delete(self, name: str) -> None:
        path = self.path(name)
        _libc.umount2(path.encode(), MNT_DETACH)  # not mounted (any more) is fine, as for ip
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass  # someone else deleted it meanwhile: that is fine
        except OSError as err:
            raise NetnsError(f"cannot remove network namespace {name!r}: {err.strerror}") from err

    def _create(self, name: str, path: str) -> None:
        self._share_dir()
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0)
        except OSError as err:
            raise NetnsError(
                f"cannot create network namespace file {path!r}: {err.strerror}"
            ) from err
        os.close(fd)
        try:
            if _libc.unshare(CLONE_NEWNET) != 0:
                _fail(f"failed to create a new network namespace {name!r}")
            # this thread's own namespace (/proc/self is the process's main thread)
            if _libc.mount(b"/proc/thread-self/ns/net", path.encode(), b"none", MS_BIND, None):
                _fail(f"bind /proc/thread-self/ns/net -> {path} failed")
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(path)
            raise

    def _share_dir(self) -> None:
        with self._share_lock:
            if not self._shared:
                self._make_shared()
                self._shared = True

    def _make_shared(self) -> None:
        self._dir.mkdir(mode=0o755, parents=True, exist_ok=True)
        directory = str(self._dir).encode()
        if _libc.mount(b"", directory, b"none", MS_SHARED | MS_REC, None) != 0:
            if ctypes.get_errno() != errno.EINVAL:
                _fail(f"mount --make-shared {self._dir} failed")
            # not a mount point yet: make it one (a bind mount onto itself), then share it
            if _libc.mount(directory, directory, b"none", MS_BIND | MS_REC, None) != 0:
                _fail(f"mount --bind {self._dir} {self._dir} failed")
            if _libc.mount(b"", directory, b"none", MS_SHARED | MS_REC, None) != 0:
                _fail(f"mount --make-shared {self._dir} failed")


_libc = ctypes.CDLL(None, use_errno=True)


def _fail(what: str) -> None:
    err = ctypes.get_errno()
    raise NetnsError(f"{what}: {os.strerror(err)}")
