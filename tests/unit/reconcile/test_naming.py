"""Names and labels of the objects the controller creates (notes/controller-design.md, "Naming")."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubeasset.api.types import DNS_SUBDOMAIN_PATTERN
from kubeasset.errors import ApiModelError
from kubeasset.graph import AssetKey
from kubeasset.graph.keys import KEY_PART_PATTERN
from kubeasset.reconcile.naming import (
    CODE_LOCATION_LABEL,
    COMPONENT_LABEL,
    COMPONENT_RUN,
    JOB_LABEL,
    MANAGED_BY_LABEL,
    RUN_LABEL,
    asset_object_names,
    child_labels,
    discovery_hash_inputs,
    discovery_pod_name,
    label_value,
    owner_reference,
    run_pod_name,
    short_hash,
)
from tests.unit.reconcile.location_builders import LOCATION_UID, NOW, make_location

LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
SUBDOMAIN = re.compile(DNS_SUBDOMAIN_PATTERN)
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def valid_label_value(value: str) -> bool:
    return len(value) <= 63 and LABEL_VALUE.match(value) is not None


def valid_object_name(name: str) -> bool:
    return len(name) <= 253 and SUBDOMAIN.match(name) is not None and all(DNS_LABEL.match(p) for p in name.split("."))


# --- label values ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["shop", "daily-sales-28612340", "a" * 63, "Mixed_Case.v1", ""],
)
def test_label_value_keeps_a_valid_value(name: str) -> None:
    assert label_value(name) == name


@pytest.mark.parametrize(
    ("name", "expected_head"),
    [
        ("a" * 64, "a" * 54),
        ("schedule-" * 10, ("schedule-" * 10)[:54]),
        ("raw/orders", "raw-orders"),
        ("-leading-dash", "leading-dash"),
    ],
)
def test_label_value_hashes_a_long_or_invalid_value(name: str, expected_head: str) -> None:
    value = label_value(name)
    assert value == f"{expected_head}-{short_hash(name)}"
    assert valid_label_value(value)


def test_label_value_of_two_long_names_sharing_a_prefix_differ() -> None:
    first, second = "x" * 60 + "-first", "x" * 60 + "-second"
    assert label_value(first) != label_value(second)


@given(st.text(max_size=300))
def test_label_value_is_always_a_valid_label_value(name: str) -> None:
    assert valid_label_value(label_value(name))


def test_child_labels_name_the_owners() -> None:
    labels = child_labels(COMPONENT_RUN, code_location="shop", job="daily", run="daily-" + "9" * 70)
    assert labels[MANAGED_BY_LABEL] == "kubeasset"
    assert labels[COMPONENT_LABEL] == "run"
    assert labels[CODE_LOCATION_LABEL] == "shop"
    assert labels[JOB_LABEL] == "daily"
    assert valid_label_value(labels[RUN_LABEL]) and labels[RUN_LABEL].startswith("daily-999")


def test_child_labels_leave_out_what_is_not_given() -> None:
    assert set(child_labels("discovery", code_location="shop")) == {
        MANAGED_BY_LABEL,
        COMPONENT_LABEL,
        CODE_LOCATION_LABEL,
    }


# --- owner references -----------------------------------------------------------------------------------


def test_owner_reference_of_a_model_is_a_blocking_controller_reference() -> None:
    assert owner_reference(make_location()) == {
        "apiVersion": "kubeasset.dev/v1alpha1",
        "kind": "CodeLocation",
        "name": "shop",
        "uid": LOCATION_UID,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def test_owner_reference_of_a_dict() -> None:
    run = {"apiVersion": "kubeasset.dev/v1alpha1", "kind": "AssetRun", "metadata": {"name": "r1", "uid": "u1"}}
    assert owner_reference(run)["uid"] == "u1"


def test_owner_reference_needs_a_uid() -> None:
    location = make_location().model_copy(
        update={"metadata": make_location().metadata.model_copy(update={"uid": None})}
    )
    with pytest.raises(ApiModelError, match="metadata.uid"):
        owner_reference(location)


# --- Pods -----------------------------------------------------------------------------------------------


def test_run_pod_is_named_after_its_run() -> None:
    assert run_pod_name("daily-sales-28612340") == "daily-sales-28612340"


def test_discovery_pod_name_shape() -> None:
    name = discovery_pod_name(make_location(), NOW)
    assert re.fullmatch(r"shop-discovery-[0-9a-f]{8}", name)


def test_discovery_pod_name_of_a_long_location_fits_a_label_value() -> None:
    name = discovery_pod_name(make_location("l" * 43 + "-" + "x" * 19), NOW)
    assert len(name) <= 63 and valid_label_value(name) and valid_object_name(name)
    assert "--discovery" not in name


@pytest.mark.parametrize(
    "change",
    [
        {"spec": {"image": "registry.example/shop:1.1"}},
        {"spec": {"module": "shop.definitions"}},
        {"spec": {"workingDirectory": "/app"}},
        {"spec": {"pod": {"env": [{"name": "REGION", "value": "eu"}]}}},
        {"annotations": {"kubeasset.dev/refresh": "2026-11-24T12:00"}},
    ],
)
def test_discovery_pod_name_changes_with_each_discovery_input(change: dict[str, object]) -> None:
    assert discovery_pod_name(make_location(**change), NOW) != discovery_pod_name(make_location(), NOW)  # type: ignore[arg-type]


def test_discovery_pod_name_ignores_what_discovery_does_not_read() -> None:
    stored = make_location(spec={"storage": {"url": "s3://bucket/shop"}}, generation=7)
    assert discovery_pod_name(stored, NOW) == discovery_pod_name(make_location(), NOW)


def test_discovery_pod_name_without_refresh_interval_does_not_depend_on_time() -> None:
    location = make_location()
    assert discovery_pod_name(location, NOW) == discovery_pod_name(location, NOW + timedelta(days=30))


def test_discovery_pod_name_changes_at_each_refresh_epoch() -> None:
    location = make_location(spec={"refresh": {"intervalSeconds": 3600}})
    epoch_start = NOW.replace(minute=0, second=0)  # NOW is on an hour boundary of the Unix epoch
    assert discovery_hash_inputs(location, epoch_start)["epoch"] == int(epoch_start.timestamp()) // 3600
    same = discovery_pod_name(location, epoch_start + timedelta(minutes=59, seconds=59))
    assert discovery_pod_name(location, epoch_start) == same
    assert discovery_pod_name(location, epoch_start + timedelta(hours=1)) != same


# --- Asset object names ---------------------------------------------------------------------------------


def key(text: str) -> AssetKey:
    return AssetKey.from_user_string(text)


@pytest.mark.parametrize(
    ("asset_key", "expected"),
    [
        ("orders", "shop.orders"),
        ("raw/Orders_v2", "shop.raw.orders-v2"),
        ("warehouse/daily/orders", "shop.warehouse.daily.orders"),
        ("123", "shop.123"),
    ],
)
def test_asset_object_name_plain(asset_key: str, expected: str) -> None:
    assert asset_object_names("shop", [key(asset_key)]) == {key(asset_key): expected}


@pytest.mark.parametrize(
    ("asset_key", "expected_head"),
    [
        ("_tmp", "shop.tmp-"),  # '_' -> '-' would start the part with '-'
        ("orders_", "shop.orders-"),
        ("_staging/orders", "shop.staging.orders-"),
        ("__", "shop."),  # nothing left of the part: the hash alone
    ],
)
def test_asset_object_name_of_a_part_that_is_no_dns_label_gets_a_hash(asset_key: str, expected_head: str) -> None:
    name = asset_object_names("shop", [key(asset_key)])[key(asset_key)]
    assert name == expected_head + short_hash(asset_key)
    assert valid_object_name(name)


def test_asset_object_names_that_collide_all_get_a_hash() -> None:
    keys = [key("Orders"), key("orders"), key("ORDERS"), key("raw_orders"), key("raw-orders"), key("revenue")]
    names = asset_object_names("shop", keys)
    assert names[key("Orders")] == "shop.orders-" + short_hash("Orders")
    assert names[key("orders")] == "shop.orders-" + short_hash("orders")
    assert names[key("raw_orders")] == "shop.raw-orders-" + short_hash("raw_orders")
    assert names[key("revenue")] == "shop.revenue"  # keys that do not collide keep the plain name
    assert len(set(names.values())) == len(keys)


def test_asset_object_name_too_long_is_cut_to_253() -> None:
    long_key = key("/".join([f"p{i}" + "x" * 60 for i in range(8)]))
    name = asset_object_names("l" * 63, [long_key])[long_key]
    assert len(name) <= 253 and valid_object_name(name)
    assert name.endswith("-" + short_hash(long_key.to_user_string()))


key_parts = st.from_regex(rf"\A{KEY_PART_PATTERN}\Z", fullmatch=True)
asset_keys = st.lists(key_parts, min_size=1, max_size=8).map(AssetKey)
location_names = st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\Z", fullmatch=True)


@settings(max_examples=100, deadline=None)
@given(location_names, st.lists(asset_keys, min_size=1, max_size=30, unique=True))
def test_asset_object_names_are_valid_and_unique(location: str, keys: list[AssetKey]) -> None:
    names = asset_object_names(location, keys)
    assert set(names) == set(keys)
    assert len(set(names.values())) == len(keys)
    for name in names.values():
        assert valid_object_name(name), name
        assert name.startswith(location + ".")


@settings(max_examples=100, deadline=None)
@given(location_names, st.lists(st.sampled_from(["a", "A", "a_b", "a-b", "A_B", "_a", "a_"]), min_size=1, max_size=8))
def test_asset_object_names_of_colliding_parts_are_unique(location: str, parts: list[str]) -> None:
    keys = list({AssetKey([part, "x"]) for part in parts} | {AssetKey(part) for part in parts})
    names = asset_object_names(location, keys)
    assert len(set(names.values())) == len(keys)
    assert all(valid_object_name(name) for name in names.values())
