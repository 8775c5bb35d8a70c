"""Field types several kinds share: tags, free-form run config, and materialization metadata entries."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from kubeasset.api.base import KubeModel
from kubeasset.api.types import (
    MAX_METADATA_ENTRIES,
    MAX_TAGS,
    METADATA_TYPE_PATTERN,
    FreeFormObject,
    FreeFormValue,
    TagKey,
    TagValue,
)

#: Tags of a job or run (``{team: sales, tier: gold}``): label-shaped keys and values, so the controller
#: can copy them onto the run's Pod as labels and ``kubectl get pods -l team=sales`` finds a team's runs.
Tags = Annotated[dict[TagKey, TagValue], Field(max_length=MAX_TAGS)]

#: Run configuration, free-form: handed to the run's assets as written (``context.run_config``, e.g.
#: ``{report_currency: EUR}``); its shape is the code's business, so the schema keeps it unvalidated.
RunConfig = FreeFormObject


class MetadataEntry(KubeModel):
    """One metadata value of a materialization, in the SDK's JSON form: ``{type: int, value: 42}``.

    ``type`` is one of the SDK's metadata types (text, int, float, bool, json, url, path, md, timestamp,
    duration, asset, null); the schema checks its shape, not the list, so that a runner from a newer
    kubeasset in a user's image can never make a status write fail. ``value`` is any JSON value.
    """

    type: Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=METADATA_TYPE_PATTERN)]
    """How to read ``value``: text, int, float, bool, json, url, path, md, timestamp, duration, asset,
    null."""
    value: FreeFormValue = None
    """The value; its JSON type depends on ``type`` (a ``null`` value is stored as absent)."""


#: Metadata of a materialization by name: ``{"dagster/row_count": {type: int, value: 120}}``. Keys are
#: not checked by the schema (the SDK limits them to MAX_METADATA_KEY_LENGTH): a key rule would be a CEL
#: rule run for every asset of every status write, and a status write must not fail on user data.
Metadata = Annotated[dict[str, MetadataEntry], Field(max_length=MAX_METADATA_ENTRIES)]
