"""The narrow interfaces the node side needs from the API client, the recorder and the runtime.

Each is the handful of methods actually called, so that ``pocketkube.client.Client``,
``EventRecorder`` and any CRI runtime satisfy them as they are, and the fakes in ``fake.py`` can
stand in for them in unit tests.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

from pocketkube.runtime import cri

Obj = dict[str, Any]
PatchType = Literal["merge", "strategic", "json", "apply"]
EventType = Literal["Normal", "Warning"]


class ApiClient(Protocol):
    async def get(self, path: str) -> Obj: ...

    async def create(self, path: str, obj: Obj) -> Obj: ...

    async def update(self, path: str, obj: Obj) -> Obj: ...

    async def patch(self, path: str, patch: Obj, *, patch_type: PatchType = ...) -> Obj: ...


class Recorder(Protocol):
    def post(
        self,
        regarding: Obj,
        *,
        type: EventType,
        reason: str,
        action: str,
        note: str,
        related: Obj | None = None,
    ) -> None: ...


class RuntimeInfo(Protocol):
    """The part of CRI's RuntimeService the node status reads."""

    async def version(self) -> cri.VersionInfo: ...

    async def status(self) -> cri.RuntimeStatus: ...


class ImageLister(Protocol):
    """The part of CRI's ImageService the node status reads."""

    async def list_images(self) -> list[cri.Image]: ...
