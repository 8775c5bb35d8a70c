"""The local kubelet's pure pieces: termination messages, CRI log records and log requests, and the
container environment ($(VAR) expansion, fieldRef, ConfigMap and Secret references)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import pytest

from kubeasset.cluster.kubelet import cri_log
from kubeasset.cluster.kubelet.environment import container_command, container_environment, expand
from kubeasset.cluster.kubelet.termination import termination_message
from kubeasset.errors import ContainerConfigError


def test_termination_message_prefers_the_file_and_caps_it() -> None:
    assert termination_message(b"summary", "FallbackToLogsOnError", 1, b"log\n") == "summary"
    assert len(termination_message(b"x" * 5000, "File", 1, b"")) == 4096


def test_fallback_to_logs_only_when_the_file_is_empty_and_the_exit_code_is_not_0() -> None:
    log = b"".join(b"line %d\n" % n for n in range(100))
    fallback = termination_message(b"", "FallbackToLogsOnError", 2, log)
    assert fallback.splitlines()[0] == "line 20" and len(fallback.splitlines()) == 80
    assert termination_message(b"", "FallbackToLogsOnError", 0, log) == ""
    assert termination_message(b"", "File", 2, log) == ""
    assert len(termination_message(b"", "FallbackToLogsOnError", 2, b"y" * 3000 + b"\n")) == 2048


def _records(*lines: tuple[str, str, bytes]) -> list[cri_log.LogRecord]:
    return [
        record
        for stamp, stream, content in lines
        if (record := cri_log.parse_record(cri_log.format_record(stamp, stream, content))) is not None
    ]


RECORDS = _records(
    ("2026-11-24T12:00:00.000000001Z", "stdout", b"one"),
    ("2026-11-24T12:00:01.500000000Z", "stderr", b"two"),
    ("2026-11-24T12:00:02.000000000Z", "stdout", b"three"),
)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (cri_log.LogQuery(), b"one\ntwo\nthree\n"),
        (cri_log.LogQuery(tail_lines=2), b"two\nthree\n"),
        (cri_log.LogQuery(tail_lines=0), b""),
        (cri_log.LogQuery(since=datetime(2026, 11, 24, 12, 0, 1, tzinfo=UTC)), b"two\nthree\n"),
        (cri_log.LogQuery(stream="stderr"), b"two\n"),
        (cri_log.LogQuery(tail_lines=1, timestamps=True), b"2026-11-24T12:00:02.000000000Z three\n"),
    ],
)
def test_log_requests_select_lines_like_the_kubelet(query: cri_log.LogQuery, expected: bytes) -> None:
    assert b"".join(cri_log.render(RECORDS, query)) == expected


def test_output_is_split_into_full_and_partial_records() -> None:
    lines, rest = cri_log.split_records("stdout", b"a\nb\npartial")
    assert [cri_log.parse_record(line).content for line in lines] == [b"a", b"b"]  # type: ignore[union-attr]
    assert rest == b"partial"
    long_lines, _ = cri_log.split_records("stdout", b"x" * (cri_log.MAX_RECORD_BYTES + 10) + b"\n")
    parsed = [cri_log.parse_record(line) for line in long_lines]
    assert [record.partial for record in parsed if record] == [True, False]
    # a line split in records is still one line for tailLines and the output
    assert (
        b"".join(cri_log.render([r for r in parsed if r], cri_log.LogQuery(tail_lines=1)))
        == b"x" * (cri_log.MAX_RECORD_BYTES + 10) + b"\n"
    )
    assert cri_log.final_records("stderr", b"end")[0].endswith(b" stderr F end\n")


def test_expand_follows_kubernetes_rules() -> None:
    assert expand("$(A)/$(MISSING)/$$(A)/$$", {"A": "x"}) == "x/$(MISSING)/$(A)/$"


POD = {"metadata": {"name": "p", "namespace": "ns", "uid": "u-1", "labels": {"app": "shop"}}, "spec": {}}


def _lookup(objects: dict[tuple[str, str], dict[str, Any]]) -> Any:
    return lambda kind, namespace, name: objects.get((kind, name)) if namespace == "ns" else None


def test_environment_resolves_references_in_the_kubelets_order() -> None:
    secret = {"data": {"token": base64.b64encode(b"s3cret").decode()}}
    objects = {("configmaps", "cm"): {"data": {"A": "from-envfrom", "colour": "red"}}, ("secrets", "sec"): secret}
    container = {
        "name": "main",
        "envFrom": [{"configMapRef": {"name": "cm"}}],
        "env": [
            {"name": "A", "value": "explicit wins"},
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "token"}}},
            {"name": "GONE", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "k", "optional": True}}},
            {"name": "B", "value": "$(POD)-$(APP)"},
        ],
        "command": ["python", "$(B)"],
        "args": ["$(TOKEN)"],
    }
    environment = container_environment(POD, container, _lookup(objects))
    assert environment == {
        "A": "explicit wins",
        "colour": "red",
        "POD": "p",
        "APP": "shop",
        "TOKEN": "s3cret",
        "B": "p-shop",
    }
    assert container_command(container, environment) == ["python", "p-shop", "s3cret"]


def test_missing_references_and_commands_are_container_config_errors() -> None:
    missing_map = {"name": "main", "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}}]}
    with pytest.raises(ContainerConfigError, match='configmap "cm" not found') as error:
        container_environment(POD, missing_map, _lookup({}))
    assert error.value.reason == "CreateContainerConfigError"
    missing_key = {"name": "main", "env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}
    with pytest.raises(ContainerConfigError, match="couldn't find key k in Secret ns/s"):
        container_environment(POD, missing_key, _lookup({("secrets", "s"): {"data": {}}}))
    with pytest.raises(ContainerConfigError, match="has no command") as no_command:
        container_command({"name": "main", "args": ["x"]}, {})
    assert no_command.value.reason == "CreateContainerError"
