"""Objects the controller caches are compacted (shared field-name sets, interned strings): they read and
serialize exactly as freshly parsed ones, derived copies behave as usual, assigning to a cached object is
refused, and a cache of them takes much less memory."""

from __future__ import annotations

import copy
import gc
import json
import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel

from kubeasset.api.asset import Asset
from kubeasset.api.assetrun import AssetRun, AssetRunStatus
from kubeasset.api.runs import RunPhase
from kubeasset.controller.cache import parse_resource
from kubeasset.controller.compaction import Compactor, SharedFieldNames


def asset_body(index: int) -> dict[str, Any]:
    """An Asset as the API server returns it after discovery (a fresh copy of every string, as JSON gives)."""
    body = {
        "apiVersion": "kubeasset.dev/v1alpha1",
        "kind": "Asset",
        "metadata": {
            "name": f"wide-n{index}-1f2e3d4c",
            "namespace": "shop",
            "uid": f"0b9c2a4e-0000-4000-8000-{index:012d}",
            "resourceVersion": str(1000 + index),
            "generation": 1,
            "creationTimestamp": "2026-11-25T05:17:00Z",
            "labels": {
                "app.kubernetes.io/managed-by": "kubeasset",
                "app.kubernetes.io/component": "asset",
                "kubeasset.dev/code-location": "wide",
                "kubeasset.dev/group": f"g{index // 100}",
            },
            "ownerReferences": [
                {
                    "apiVersion": "kubeasset.dev/v1alpha1",
                    "kind": "CodeLocation",
                    "name": "wide",
                    "uid": "5d0c7a52-1111-4000-8000-000000000001",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {"key": f"n{index}", "codeLocation": "wide", "deps": [f"n{index - 1}"], "group": f"g{index // 100}"},
        "status": {
            "observedGeneration": 1,
            "state": "Missing",
            "conditions": [
                {
                    "type": "Materialized",
                    "status": "False",
                    "reason": "Missing",
                    "message": "never materialized",
                    "lastTransitionTime": f"2026-11-25T05:{17 + index % 40}:01Z",
                    "observedGeneration": 1,
                }
            ],
        },
    }
    result: dict[str, Any] = json.loads(json.dumps(body))
    return result


def run_body(index: int) -> dict[str, Any]:
    body = {
        "apiVersion": "kubeasset.dev/v1alpha1",
        "kind": "AssetRun",
        "metadata": {"name": f"done{index:05d}", "namespace": "shop", "uid": f"u-{index}", "generation": 1},
        "spec": {"job": "trivial"},
        "status": {"phase": "Succeeded", "message": "1 of 1 assets materialized", "attempts": 1},
    }
    result: dict[str, Any] = json.loads(json.dumps(body))
    return result


def cached_asset(index: int) -> Asset:
    asset = parse_resource(Asset, asset_body(index))
    assert asset is not None
    return asset


def test_a_cached_object_reads_and_serializes_as_a_freshly_parsed_one() -> None:
    cached = cached_asset(7)
    fresh = Asset.model_validate(asset_body(7))

    assert cached == fresh
    assert cached.to_json() == fresh.to_json()
    assert cached.metadata.labels == fresh.metadata.labels
    assert cached.model_fields_set == fresh.model_fields_set


def test_cached_objects_share_field_sets_and_strings() -> None:
    first, second = cached_asset(1), cached_asset(2)

    assert isinstance(first.metadata.__pydantic_fields_set__, SharedFieldNames)
    assert first.metadata.__pydantic_fields_set__ is second.metadata.__pydantic_fields_set__
    assert first.status is not None and second.status is not None
    assert first.status.conditions[0].__pydantic_fields_set__ is second.status.conditions[0].__pydantic_fields_set__
    assert first.metadata.namespace is second.metadata.namespace
    first_labels, second_labels = first.metadata.labels or {}, second.metadata.labels or {}
    assert first_labels["kubeasset.dev/code-location"] is second_labels["kubeasset.dev/code-location"]
    assert first.spec.code_location is second.spec.code_location


def test_derived_copies_of_a_cached_object_are_ordinary_models() -> None:
    cached = parse_resource(AssetRun, run_body(1))
    assert cached is not None and cached.status is not None
    status = AssetRunStatus(phase=RunPhase.FAILED, message="boom")

    updated = cached.model_copy(update={"status": status})
    updated.metadata = updated.metadata.model_copy(update={"name": "renamed"})
    deep = cached.model_copy(deep=True)
    deep.spec.cancel = True

    assert updated.status == status and updated.metadata.name == "renamed"
    assert deep.spec.cancel is True
    # The cached object and the sets it shares are untouched.
    assert cached.status.phase == RunPhase.SUCCEEDED and cached.metadata.name == "done00001"
    assert cached.spec.cancel is not True
    assert "cancel" not in cached.spec.model_fields_set
    again = parse_resource(AssetRun, run_body(2))
    assert again is not None and "cancel" not in again.spec.model_fields_set


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda run: setattr(run.spec, "cancel", True), id="a field of a sub-model"),
        pytest.param(lambda run: setattr(run, "status", None), id="a field of the object"),
        pytest.param(lambda run: setattr(run.model_copy().spec, "cancel", True), id="through a shallow copy"),
    ],
)
def test_assigning_to_a_cached_object_is_refused(mutate: Callable[[AssetRun], None]) -> None:
    cached = parse_resource(AssetRun, run_body(3))
    assert cached is not None

    with pytest.raises(TypeError, match=r"read-only: derive a changed one with model_copy\(update=...\)"):
        mutate(cached)


def test_the_shared_set_copies_to_a_plain_set() -> None:
    shared = SharedFieldNames({"name"})

    for copied in (copy.copy(shared), copy.deepcopy(shared), shared | {"uid"}):
        copied.add("other")
        assert "other" in copied
    assert shared == {"name"}
    with pytest.raises(TypeError):
        shared.add("uid")
    with pytest.raises(TypeError):
        shared |= {"uid"}


def test_a_cache_of_compacted_assets_takes_under_half_the_memory() -> None:
    bodies = [asset_body(index) for index in range(2000)]

    def traced(parse: Callable[[dict[str, Any]], Any]) -> int:
        gc.collect()
        tracemalloc.start()
        try:
            kept = [parse(body) for body in bodies]
            gc.collect()
            size = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        assert len(kept) == len(bodies)
        return size

    plain = traced(Asset.model_validate)
    compactor = Compactor()
    compacted = traced(lambda body: compactor.compact(Asset.model_validate(body)))

    assert compacted < plain / 2, (
        f"compacted {compacted / len(bodies):.0f} B per Asset, plain {plain / len(bodies):.0f}"
    )


class _Value(BaseModel):
    value: bool | int | float | str


class _Holder(BaseModel):
    leaf: _Value


def test_equal_leaves_are_shared_but_not_ones_equal_only_after_conversion() -> None:
    compactor = Compactor()
    one, other_one, true, one_float = (
        compactor.compact(_Holder(leaf=_Value(value=value))) for value in (1, 1, True, 1.0)
    )

    assert other_one.leaf is one.leaf
    assert true.leaf is not one.leaf and one_float.leaf is not one.leaf
    assert true.leaf.value is True and isinstance(one_float.leaf.value, float)
    assert true.model_dump() == {"leaf": {"value": True}}
