"""The asset graph shared by every layer: keys, specs and validated dependency edges."""

from kubeasset.graph.asset_graph import DEFAULT_GROUP_NAME, NO_TAGS, AssetGraph, AssetSpec, frozen_tags
from kubeasset.graph.keys import KEY_PART_PATTERN, AssetKey, CoercibleToAssetKey, parse_key

__all__ = [
    "DEFAULT_GROUP_NAME",
    "KEY_PART_PATTERN",
    "NO_TAGS",
    "AssetGraph",
    "AssetKey",
    "AssetSpec",
    "CoercibleToAssetKey",
    "frozen_tags",
    "parse_key",
]
