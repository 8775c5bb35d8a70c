"""A serializable description of an exception raised while materializing an asset."""

from __future__ import annotations

import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any


@dataclass(frozen=True)
class ErrorInfo:
    """Type name, message and formatted traceback of an asset's failure.

    Example::

        ErrorInfo.from_exception(ValueError("bad row")).type  # 'ValueError'
    """

    type: str
    message: str
    traceback: str

    @classmethod
    def from_exception(cls, error: BaseException, *, skip_frames: int = 0) -> ErrorInfo:
        """Describe ``error``; ``skip_frames`` drops kubeasset's own outermost frames from the traceback."""
        tb: TracebackType | None = error.__traceback__
        for _ in range(skip_frames):
            if tb is None or tb.tb_next is None:
                break
            tb = tb.tb_next
        text = "".join(traceback.format_exception(type(error), error, tb))
        return cls(type=qualified_type_name(error), message=str(error), traceback=text)

    def to_json(self) -> dict[str, str]:
        return {"type": self.type, "message": self.message, "traceback": self.traceback}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ErrorInfo:
        return cls(
            type=str(data.get("type", "")),
            message=str(data.get("message", "")),
            traceback=str(data.get("traceback", "")),
        )

    def one_line(self) -> str:
        """``"ValueError: bad row"``: what a status message or a log line shows."""
        return f"{self.type}: {self.message}" if self.message else self.type


def qualified_type_name(error: BaseException) -> str:
    """``ValueError`` for builtins, ``module.ClassName`` for everything else."""
    cls = type(error)
    if cls.__module__ in ("builtins", "__main__"):
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"
