"""A terminated container's status message, by the kubelet's rules: the termination-message file (at most
4096 bytes), or with FallbackToLogsOnError the tail of the log when that file is empty and the exit code
is not 0 (at most 80 lines and 2048 bytes)."""

from __future__ import annotations

#: Limits of pkg/kubelet/container (MaxContainerTerminationMessageLength and the log fallback's).
MAX_MESSAGE_BYTES = 4096
MAX_FALLBACK_LINES = 80
MAX_FALLBACK_BYTES = 2048


def termination_message(file_content: bytes, policy: str | None, exit_code: int, log_text: bytes) -> str:
    """The message for ``containerStatuses[].state.terminated.message`` ("" for none).

    >>> termination_message(b"", "FallbackToLogsOnError", 1, b"a\\nboom\\n")
    'a\\nboom\\n'
    """
    message = file_content[:MAX_MESSAGE_BYTES]
    if not message.strip() and policy == "FallbackToLogsOnError" and exit_code != 0:
        lines = log_text.splitlines(keepends=True)[-MAX_FALLBACK_LINES:]
        message = b"".join(lines)[-MAX_FALLBACK_BYTES:]
    return message.decode("utf-8", errors="replace")
