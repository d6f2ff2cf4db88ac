"""What a plugin answers: a code and the reasons users read in ``FailedScheduling``.

Plugins return a Status instead of raising (upstream's ``framework.Status``): ``None`` or a
``SUCCESS`` status means go on; ``UNSCHEDULABLE`` means this node does not fit now but could
after a change (preemption may help); ``UNSCHEDULABLE_AND_UNRESOLVABLE`` means no preemption
on this node can help; ``ERROR`` is a bug or a failed call and aborts the cycle; ``SKIP``
tells the framework to leave the plugin out of the rest of the cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum


class Code(IntEnum):
    SUCCESS = 0
    ERROR = 1
    UNSCHEDULABLE = 2
    UNSCHEDULABLE_AND_UNRESOLVABLE = 3
    WAIT = 4
    SKIP = 5
    PENDING = 6


@dataclass(slots=True)
class Status:
    code: Code = Code.SUCCESS
    reasons: list[str] = field(default_factory=list)
    plugin: str = ""

    @property
    def success(self) -> bool:
        return self.code == Code.SUCCESS

    @property
    def rejected(self) -> bool:
        return self.code in (
            Code.UNSCHEDULABLE,
            Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
            Code.PENDING,
        )

    def message(self) -> str:
        return ", ".join(self.reasons)

    def with_plugin(self, plugin: str) -> Status:
        if not self.plugin:
            self.plugin = plugin
        return self


def unschedulable(*reasons: str) -> Status:
    return Status(Code.UNSCHEDULABLE, list(reasons))


def unresolvable(*reasons: str) -> Status:
    return Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, list(reasons))


def error(reason: str) -> Status:
    return Status(Code.ERROR, [reason])


def skip() -> Status:
    return Status(Code.SKIP)


def is_success(status: Status | None) -> bool:
    return status is None or status.code == Code.SUCCESS
