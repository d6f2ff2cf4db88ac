"""The process runtime: containers as host process groups, each watched by a shim.

The default container runtime of pocketkube, behind the CRI-shaped protocols of ``cri.py``
(see ``runtime.py`` for what a sandbox and a container are here). The package's ``__init__``
imports nothing, because the shims (``shim.py``, ``forkserver.py``) import their modules through
it and must start fast; the names below are loaded on first use.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not importing typing: it is slow to import, and the shims import this
if TYPE_CHECKING:
    from typing import Any

    from pocketkube.runtime.process.cleanup import kill_everything
    from pocketkube.runtime.process.logs import read_log
    from pocketkube.runtime.process.runtime import ProcessRuntime

__all__ = ["ProcessRuntime", "kill_everything", "read_log"]

_HOMES = {
    "ProcessRuntime": "pocketkube.runtime.process.runtime",
    "kill_everything": "pocketkube.runtime.process.cleanup",
    "read_log": "pocketkube.runtime.process.logs",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_HOMES[name]), name)
