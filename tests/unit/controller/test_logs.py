"""JSON logs as a log collector reads them: one JSON object per line with time, level, logger and message, the
object a line is about as kind/namespace/name, and tracebacks kept; text logs stay text."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime

from kubeasset.controller.logs import JsonLogFormatter
from kubeasset.controller.workqueue import ObjectKey


def formatted(record_logger: logging.Logger, emit: Callable[[], None]) -> list[dict[str, object]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLogFormatter())
    record_logger.addHandler(handler)
    try:
        emit()
    finally:
        record_logger.removeHandler(handler)
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_line_is_one_json_object_with_the_object_it_is_about() -> None:
    logger = logging.getLogger("kubeasset.test.logs")
    logger.setLevel(logging.INFO)
    key = ObjectKey("AssetRun", "shop", "daily-1")
    (line,) = formatted(logger, lambda: logger.warning("%s: pod gone", key, extra=key.log_extra()))

    assert list(line)[:4] == ["time", "level", "logger", "message"]
    assert line["level"] == "WARNING"
    assert line["logger"] == "kubeasset.test.logs"
    assert line["message"] == "AssetRun shop/daily-1: pod gone"
    assert (line["kind"], line["namespace"], line["name"]) == ("AssetRun", "shop", "daily-1")
    assert "k8s_ref" not in line
    assert datetime.fromisoformat(str(line["time"])).utcoffset() is not None


def test_kopf_object_loggers_show_their_object_and_other_extras_are_kept() -> None:
    logger = logging.getLogger("kubeasset.test.logs.kopf")
    reference = {"apiVersion": "kubeasset.dev/v1alpha1", "kind": "CodeLocation", "namespace": "shop", "name": "s"}
    (line,) = formatted(
        logger, lambda: logger.error("handler failed", extra={"k8s_ref": reference, "k8s_skip": False, "attempt": 3})
    )
    assert (line["kind"], line["namespace"], line["name"], line["attempt"]) == ("CodeLocation", "shop", "s", 3)
    assert "k8s_skip" not in line


def test_a_traceback_stays_in_the_object() -> None:
    logger = logging.getLogger("kubeasset.test.logs.error")

    def fail() -> None:
        try:
            raise ValueError("bad value")
        except ValueError:
            logger.exception("reconcile failed")

    (line,) = formatted(logger, fail)
    assert line["level"] == "ERROR" and "ValueError: bad value" in str(line["exc_info"])


def test_configure_logging_writes_json_lines_to_stderr_when_asked() -> None:
    program = (
        "import logging\n"
        "from kubeasset.controller.operator import configure_logging\n"
        "configure_logging(logging.INFO, json_format={json})\n"
        "logging.getLogger('kubeasset.controller').info('started %s', 'ok')\n"
        "logging.getLogger('kubeasset.controller').debug('hidden')\n"
    )
    as_json = subprocess.run(
        [sys.executable, "-c", program.format(json=True)], capture_output=True, text=True, check=True
    ).stderr.splitlines()
    as_text = subprocess.run(
        [sys.executable, "-c", program.format(json=False)], capture_output=True, text=True, check=True
    ).stderr.splitlines()

    assert len(as_json) == 1
    line = json.loads(as_json[0])
    assert (line["level"], line["logger"], line["message"]) == ("INFO", "kubeasset.controller", "started ok")
    assert len(as_text) == 1 and as_text[0].endswith("INFO kubeasset.controller: started ok")
