"""The CEL rules of the CRDs, evaluated as the API server would: on create, and on update (transitions)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.api.schema_tools import apply_defaults, cel_violations, crd_schema


def _run(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "kubeasset.dev/v1alpha1",
        "kind": "AssetRun",
        "metadata": {"name": "r"},
        "spec": spec,
    }


def _update_violations(kind: str, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    schema = crd_schema(kind)
    return cel_violations(schema, apply_defaults(schema, new), apply_defaults(schema, old))


def test_a_run_can_be_canceled_but_not_uncanceled() -> None:
    assert _update_violations("AssetRun", _run(job="j"), _run(job="j", cancel=True)) == []
    assert _update_violations("AssetRun", _run(job="j", cancel=True), _run(job="j", cancel=True)) == []
    assert _update_violations("AssetRun", _run(job="j", cancel=True), _run(job="j", cancel=False)) == [
        ".spec.cancel: cancel cannot be undone: a canceled run stays canceled"
    ]
    # Removing the field resets it to its default, false: also refused.
    assert _update_violations("AssetRun", _run(job="j", cancel=True), _run(job="j")) != []


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (_run(job="a"), _run(job="b")),
        (_run(job="a"), _run(job="a", selection="key:x")),
        (_run(codeLocation="c", selection="key:x"), _run(codeLocation="c", selection="key:y")),
        (_run(codeLocation="c", selection="key:x"), _run(codeLocation="d", selection="key:x")),
        (_run(job="a", config={"x": 1}), _run(job="a", config={"x": 2})),
        (_run(job="a", config={"x": 1}), _run(job="a")),
        (_run(job="a"), _run(job="a", trigger={"type": "Sensor", "sensor": "s"})),
    ],
)
def test_what_a_run_runs_cannot_change_after_creation(old: dict[str, Any], new: dict[str, Any]) -> None:
    assert _update_violations("AssetRun", old, new) != []


def test_run_tags_stay_editable() -> None:
    assert (
        _update_violations(
            "AssetRun", _run(job="a", tags={"a": "1"}), _run(job="a", tags={"a": "2", "b": ""})
        )
        == []
    )


def test_tag_keys_must_be_label_keys() -> None:
    schema = crd_schema("AssetJob")["properties"]["spec"]
    good = {
        "codeLocation": "c",
        "selection": "*",
        "tags": {"team": "sales", "example.com/cost-center": "4711"},
    }
    assert cel_violations(schema, good) == []
    for key in ("has space", "-leading", "x" * 64, "UPPER.example.com/x", "a/b/c"):
        bad = {**good, "tags": {key: "v"}}
        assert cel_violations(schema, bad) != [], key


def test_an_asset_cannot_depend_on_itself() -> None:
    schema = crd_schema("Asset")["properties"]["spec"]
    assert cel_violations(schema, {"key": "a/b", "codeLocation": "c", "deps": ["a"]}) == []
    assert cel_violations(schema, {"key": "a/b", "codeLocation": "c", "deps": ["a", "a/b"]}) == [
        "<root>: an asset cannot depend on itself"
    ]
