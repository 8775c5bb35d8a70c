"""The controller's log lines as JSON, one object per line, for log collectors (Loki, Elasticsearch, Cloud
Logging): ``time`` (ISO 8601, UTC), ``level``, ``logger``, ``message``, the object a line is about (``kind``,
``namespace``, ``name``) when known, any other ``extra=`` field, and ``exc_info`` with the traceback.

python-json-logger does the encoding (kopf already depends on it, and it handles extras, exceptions and
non-JSON values); this module only fixes the field names and lifts the object reference that kopf's
per-object loggers and kubeasset's work queue attach as ``extra={"k8s_ref": {...}}`` to top-level fields.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from pythonjsonlogger.json import JsonFormatter

#: The fields every line starts with, in this order.
LEADING_FIELDS: Final = ("time", "level", "logger", "message")
#: Fields of an object reference (kopf's ``k8s_ref``) shown at the top level.
OBJECT_FIELDS: Final = ("kind", "namespace", "name")


class JsonLogFormatter(JsonFormatter):
    """One JSON object per record.

    Example::

        handler = logging.StreamHandler()
        handler.setFormatter(JsonLogFormatter())
        logging.getLogger("kubeasset").addHandler(handler)
        # {"time": "2026-01-01T00:00:00.000001+00:00", "level": "WARNING", "logger": "kubeasset.controller",
        #  "message": "AssetRun shop/r1: ...", "kind": "AssetRun", "namespace": "shop", "name": "r1"}
    """

    def __init__(self) -> None:
        super().__init__(
            ["levelname", "name", "message"],
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp="time",
        )

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        reference = log_data.pop("k8s_ref", None)
        log_data.pop("k8s_skip", None)  # kopf's marker for "do not post this as an Event"
        ordered: dict[str, Any] = {field: log_data.pop(field) for field in LEADING_FIELDS if field in log_data}
        if isinstance(reference, dict):
            ordered.update({field: reference[field] for field in OBJECT_FIELDS if reference.get(field)})
        ordered.update(log_data)
        return ordered


def log_handler(json_format: bool) -> logging.Handler:
    """A stderr handler writing JSON objects or, for a person at a terminal, text lines."""
    handler = logging.StreamHandler()
    if json_format:
        handler.setFormatter(JsonLogFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    return handler
