"""What ends up on the error stream after exec/attach: upstream's metav1.Status, or its text."""

from __future__ import annotations

import json
from typing import Any

from pocketkube.runtime import cri
from pocketkube.runtime.streaming.provider import ExitCode


def success() -> dict[str, Any]:
    return {"metadata": {}, "status": "Success"}


def exit_code(code: int) -> dict[str, Any]:
    return {
        "metadata": {},
        "status": "Failure",
        "message": f"command terminated with non-zero exit code: exit status {code}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


def internal_error(message: str) -> dict[str, Any]:
    return {
        "metadata": {},
        "status": "Failure",
        "message": f"Internal error occurred: {message}",
        "reason": "InternalError",
        "details": {"causes": [{"message": message}]},
        "code": 500,
    }


def from_exception(error: BaseException | None) -> dict[str, Any]:
    if error is None:
        return success()
    if isinstance(error, ExitCode):
        return exit_code(error.code)
    if isinstance(error, cri.RuntimeError_):
        return internal_error(error.message)
    return internal_error(str(error) or type(error).__name__)


def encode(status: dict[str, Any], *, json_status: bool) -> bytes:
    """v4 and later send the Status as JSON; v1 to v3 send only a failure's message as text."""
    if json_status:
        return json.dumps(status, separators=(",", ":")).encode()
    if status["status"] == "Success":
        return b""
    return str(status.get("message", "")).encode()
