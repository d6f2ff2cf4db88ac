"""``<custom resource>/scale``: a custom object as a Scale, through its CRD's JSON paths.

As apiextensions-apiserver's ``ScaleREST``: the CRD version's ``subresources.scale`` says where
an object keeps its wanted replicas (``specReplicasPath``), its current replicas
(``statusReplicasPath``, 0 when absent) and its label selector as a string
(``labelSelectorPath``). A read of an object without the spec field is a 500 (the field "does
not exist"); a write sets the field at ``specReplicasPath`` only (making the maps on the way),
and a write that leaves it unset where it was never set is a 400. The replica counts are then
checked by the custom resource's own validation (``crdschema.validate_scale``), as every write
of the object is.
"""

from __future__ import annotations

from pocketkube.api import status
from pocketkube.api.status import StatusError
from pocketkube.api.validation import go_quote
from pocketkube.apiserver.crdschema import (
    PathError,
    ScalePaths,
    nested_int,
    nested_string,
    set_nested,
)
from pocketkube.apiserver.subresources.scaleview import (
    INT32_MAX,
    is_integer,
    new_scale,
    requested_replicas,
)
from pocketkube.storage.interface import Obj

# Marks a Scale whose parent has no spec replicas yet: a write must set them (upstream's value).
UNSET_REPLICAS = -(2**31)


class CustomResourceScale:
    """The Scale view of one custom resource version."""

    def __init__(self, paths: ScalePaths) -> None:
        self.paths = paths

    def _scale(self, parent: Obj) -> tuple[Obj, bool]:
        """The Scale of ``parent`` and whether it has its spec replicas field."""
        paths = self.paths
        try:
            replicas, found = nested_int(parent, paths.spec_replicas)
            status_replicas, _ = nested_int(parent, paths.status_replicas)
            selector = (
                nested_string(parent, paths.label_selector)[0] if paths.label_selector else ""
            )
        except PathError as err:
            raise StatusError(status.internal_error(str(err))) from None
        scale = new_scale(
            parent, replicas=replicas, status_replicas=status_replicas, selector=selector
        )
        return scale, found

    def scale(self, parent: Obj) -> Obj:
        scale, found = self._scale(parent)
        if not found:
            raise StatusError(
                status.internal_error(
                    f"the spec replicas field {go_quote(self.paths.spec_replicas)} does not exist"
                )
            )
        return scale

    def current(self, parent: Obj) -> Obj:
        scale, found = self._scale(parent)
        if not found:
            scale["spec"]["replicas"] = UNSET_REPLICAS
        return scale

    def set_replicas(self, parent: Obj, scale: Obj, name: str) -> None:
        replicas = requested_replicas(scale)
        if not is_integer(replicas) or not -(2**31) <= replicas <= INT32_MAX:
            # a Scale's spec.replicas is an int32: anything else does not decode
            raise StatusError(
                status.bad_request(
                    "json: cannot unmarshal value into Go struct field ScaleSpec.spec.replicas "
                    "of type int32"
                )
            )
        if replicas == UNSET_REPLICAS:
            raise StatusError(
                status.bad_request(
                    f"the spec replicas field {go_quote(self.paths.spec_replicas)} cannot be empty"
                )
            )
        try:
            set_nested(parent, self.paths.spec_replicas, replicas)
        except PathError as err:
            raise StatusError(status.internal_error(str(err))) from None
