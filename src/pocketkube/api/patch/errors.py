"""The one error every patch type raises.

The API server turns a `PatchError` into a Status: 422 Invalid for a patch that is well formed but
does not apply (a failed ``test``, a missing path), 400 BadRequest for a malformed patch document.
`PatchError.bad_request` says which, so the handler need not parse messages.
"""

from __future__ import annotations


class PatchError(ValueError):
    """A patch could not be decoded or applied; ``str(err)`` is the message for the Status."""

    def __init__(self, message: str, *, bad_request: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.bad_request = bad_request


class UnsupportedPatchTypeError(PatchError):
    """The patch's media type is not accepted for this resource: 415 UnsupportedMediaType."""

    code = 415
    reason = "UnsupportedMediaType"

    def __init__(self, accepted: tuple[str, ...]) -> None:
        super().__init__(
            "the body of the request was in an unknown format - accepted media types include: "
            + ", ".join(accepted)
        )
        self.accepted = accepted
