"""Priority: a new pod's ``priority`` (and ``preemptionPolicy``) come from its PriorityClass.

As upstream's plugin. On pod create, ``priorityClassName`` is looked up and its value copied
into ``spec.priority`` (a missing class is refused, 403); a pod naming no class gets the
``globalDefault`` class (the lowest-valued one, should a race have made several), or priority 0
and PreemptLowerPriority when there is none. A pod may not state a priority or policy other than
the one computed. On pod update, a priority or policy left out is kept from the stored pod (pod
validation refuses any other change to them). On PriorityClass create and update, at most one
class may be the ``globalDefault``.
"""

from __future__ import annotations

from typing import Any

from pocketkube.api.scheduling import (
    DEFAULT_PRIORITY_WHEN_NO_DEFAULT_CLASS_EXISTS,
    PREEMPT_LOWER_PRIORITY,
)
from pocketkube.apiserver.admission.interface import (
    PODS,
    PRIORITY_CLASSES,
    Attributes,
    ObjectReader,
    Operation,
    forbidden,
)
from pocketkube.storage.interface import Obj

NAME = "Priority"


class Priority:
    name = NAME

    def __init__(self, reader: ObjectReader) -> None:
        self._reader = reader

    async def default_class(self) -> Obj | None:
        """The globalDefault class with the lowest value, or None."""
        defaults = [
            pc
            for pc in await self._reader.list(PRIORITY_CLASSES)
            if pc.get("globalDefault") is True
        ]
        return min(defaults, key=lambda pc: pc.get("value", 0), default=None)

    async def _resolve(self, attrs: Attributes, class_name: str) -> tuple[str, int, Any]:
        """(class name, priority, preemption policy or None) for a pod naming ``class_name``."""
        if not class_name:
            found = await self.default_class()
            if found is None:
                return "", DEFAULT_PRIORITY_WHEN_NO_DEFAULT_CLASS_EXISTS, PREEMPT_LOWER_PRIORITY
            return found["metadata"]["name"], found.get("value", 0), found.get("preemptionPolicy")
        found = await self._reader.get(PRIORITY_CLASSES, "", class_name)
        if found is None:
            raise forbidden(attrs, f"no PriorityClass with name {class_name} was found")
        return class_name, found.get("value", 0), found.get("preemptionPolicy")

    async def admit(self, attrs: Attributes) -> None:
        spec = attrs.spec()
        if spec is None or not attrs.is_resource(PODS):
            return
        if attrs.operation is Operation.UPDATE:
            old_spec = (attrs.old or {}).get("spec") or {}
            for key in ("priority", "preemptionPolicy"):
                if spec.get(key) is None and old_spec.get(key) is not None:
                    spec[key] = old_spec[key]
            return
        class_name, priority, policy = await self._resolve(
            attrs, str(spec.get("priorityClassName") or "")
        )
        if class_name:
            spec["priorityClassName"] = class_name
        given = spec.get("priority")
        if given is not None and given != priority:
            raise forbidden(
                attrs,
                f"the integer value of priority ({given}) must not be provided in pod spec; "
                f"priority admission controller computed {priority} from the given "
                "PriorityClass name",
            )
        spec["priority"] = priority
        if policy is None:
            return
        given = spec.get("preemptionPolicy")
        if given is not None and given != policy:
            raise forbidden(
                attrs,
                f"the string value of PreemptionPolicy ({given}) must not be provided in pod "
                f"spec; priority admission controller computed {policy} from the given "
                "PriorityClass name",
            )
        spec["preemptionPolicy"] = policy

    async def validate(self, attrs: Attributes) -> None:
        if not attrs.is_resource(PRIORITY_CLASSES) or attrs.obj.get("globalDefault") is not True:
            return
        found = await self.default_class()
        if found is None:
            return
        other = found["metadata"]["name"]
        if attrs.operation is Operation.CREATE or other != attrs.name:
            raise forbidden(
                attrs,
                f"PriorityClass {other} is already marked as default. Only one default can exist",
            )


def new(reader: ObjectReader) -> Priority:
    return Priority(reader)
