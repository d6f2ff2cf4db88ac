"""A container's termination message (``terminationMessagePath`` / ``terminationMessagePolicy``).

The kubelet gives each container instance an empty host file that the runtime shows at the
container's ``terminationMessagePath``; when the container has exited, its content (at most
4 KiB, as upstream) becomes ``state.terminated.message``. With ``FallbackToLogsOnError`` a
container that failed without writing one gets the tail of its log instead (the last 80 lines,
at most 2 KiB).
"""

from __future__ import annotations

import logging

from pocketkube.kubelet import podutil
from pocketkube.kubelet.runtimestate import ContainerRecord
from pocketkube.runtime.process.logs import read_log

log = logging.getLogger(__name__)

MESSAGE_LIMIT = 4096
FALLBACK_LINES = 80
FALLBACK_BYTES = 2048


class TerminationMessages:
    def read(self, record: ContainerRecord) -> str:
        annotations = record.status.annotations
        message = ""
        path = annotations.get(podutil.TERMINATION_LOG_ANNOTATION)
        if path:
            try:
                with open(path, "rb") as file:
                    message = file.read(MESSAGE_LIMIT).decode("utf-8", "replace")
            except OSError:
                message = ""
        policy = annotations.get(podutil.TERMINATION_MESSAGE_POLICY_ANNOTATION, "File")
        if message or policy != "FallbackToLogsOnError" or record.status.exit_code == 0:
            return message
        try:
            lines = [line for _, line in read_log(record.status.log_path)][-FALLBACK_LINES:]
        except OSError:
            return ""
        tail = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
        return tail.encode()[-FALLBACK_BYTES:].decode("utf-8", "ignore")
