"""The EndpointSlice controller (``controller``) and what it shares with the endpoints and
mirroring controllers (``util``, ``slices``, ``reconciler``)."""

from pocketkube.controllers.endpointslice.controller import NAME, EndpointSliceController, build

__all__ = ["NAME", "EndpointSliceController", "build"]
