"""Status and spec writes send only what differs, and remove what the desired object no longer has."""

from __future__ import annotations

from kubeasset.controller.merge_patch import merge_patch


def test_equal_objects_need_no_write() -> None:
    status = {"conditions": [{"type": "Ready", "status": "True"}], "assets": {"count": 9}}
    assert merge_patch(status, {**status}) == {}


def test_only_changed_fields_are_sent_and_removed_ones_become_null() -> None:
    current = {"assets": {"count": 9, "graphHash": "a"}, "lastRun": {"name": "r1"}, "assetCount": 9}
    desired = {"assets": {"count": 10, "graphHash": "a"}, "lastRun": {"name": "r1"}}
    assert merge_patch(current, desired) == {"assets": {"count": 10}, "assetCount": None}


def test_lists_are_replaced_whole() -> None:
    assert merge_patch({"assets": ["a", "b"]}, {"assets": ["a"]}) == {"assets": ["a"]}


def test_a_first_status_is_written_whole() -> None:
    assert merge_patch(None, {"state": "Missing"}) == {"state": "Missing"}
