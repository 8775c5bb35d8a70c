"""The CRD schema accepts exactly the names the SDK lets user code define, so that discovered assets and
jobs can always be written to the API server (``api`` and ``sdk`` cannot import each other)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from kubeasset.api import AssetSpec
from kubeasset.api import types as api_types
from kubeasset.errors import DefinitionError
from kubeasset.graph import DEFAULT_GROUP_NAME
from kubeasset.sdk import metadata as sdk_metadata
from kubeasset.sdk import naming

SAMPLES = [
    "sales",
    "sales_2024",
    "Sales",
    "a" * 63,
    "a" * 64,
    "",
    "-x",
    "x-",
    "_x",
    "x_",
    "x.y",
    "x y",
    "x/y",
    "example.com/team",
    "Example.com/team",
    "team:sales",
    "ops@example.com",
    "a@b",
    "é",
    "x" * 253 + "/y",
]


def _sdk_accepts(check: Callable[[], Any]) -> bool:
    try:
        check()
    except DefinitionError:
        return False
    return True


def _api_accepts(pattern: str, text: str, max_length: int) -> bool:
    return re.fullmatch(pattern, text) is not None and len(text) <= max_length


@pytest.mark.parametrize("text", SAMPLES)
def test_group_names(text: str) -> None:
    sdk = _sdk_accepts(lambda: naming.validate_group_name(text, owner="t"))
    assert _api_accepts(api_types.GROUP_NAME_PATTERN, text, 63) is sdk


@pytest.mark.parametrize("text", SAMPLES)
def test_code_job_names(text: str) -> None:
    sdk = _sdk_accepts(lambda: naming.validate_job_name(text))
    assert _api_accepts(api_types.CODE_JOB_NAME_PATTERN, text, 63) is sdk


@pytest.mark.parametrize("text", SAMPLES)
def test_tag_keys_and_values(text: str) -> None:
    key_ok = _sdk_accepts(lambda: naming.validate_tags({text: "v"}, owner="t"))
    assert _api_accepts(api_types.TAG_KEY_PATTERN, text, api_types.MAX_TAG_KEY_LENGTH) is key_ok
    value_ok = _sdk_accepts(lambda: naming.validate_tags({"k": text}, owner="t"))
    assert _api_accepts(api_types.TAG_VALUE_PATTERN, text, 63) is value_ok


@pytest.mark.parametrize("text", SAMPLES)
def test_owners_and_kinds(text: str) -> None:
    owner_ok = _sdk_accepts(lambda: naming.validate_owners([text], owner="t"))
    assert _api_accepts(api_types.OWNER_PATTERN, text, 256) is owner_ok
    kind_ok = _sdk_accepts(lambda: naming.validate_kinds([text], owner="t"))
    assert _api_accepts(api_types.KIND_PATTERN, text, 63) is kind_ok


def test_every_sdk_metadata_type_fits_the_status_schema() -> None:
    for metadata_type in sdk_metadata.METADATA_TYPES:
        assert re.fullmatch(api_types.METADATA_TYPE_PATTERN, metadata_type), metadata_type
    assert api_types.MAX_METADATA_KEY_LENGTH == sdk_metadata.MAX_METADATA_KEY_LENGTH


def test_assets_without_a_group_get_the_graph_default_group() -> None:
    assert AssetSpec(key="a", code_location="c").group == DEFAULT_GROUP_NAME
