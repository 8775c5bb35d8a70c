"""The example manifests in examples/manifests/: valid for the models and the CRDs, and consistent
with the example code location (``examples/shop``)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeasset.api import AssetJob, AssetRun, AssetSensor, CodeLocation, KubeResource, parse_manifest
from kubeasset.api.assetschedule import AssetSchedule
from kubeasset.selection import parse_selection, resolve_selection
from tests.unit.api.schema_tools import apply_defaults, cel_violations, crd_schema, openapi_errors

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def _documents() -> list[dict[str, Any]]:
    documents = []
    for path in sorted((EXAMPLES / "manifests").glob("*.yaml")):
        documents += [
            document for document in yaml.safe_load_all(path.read_text(encoding="utf-8")) if document
        ]
    return [document for document in documents if document["apiVersion"].startswith("kubeasset.dev/")]


DOCUMENTS = _documents()
IDS = [f"{document['kind']}/{document['metadata']['name']}" for document in DOCUMENTS]


@pytest.fixture(scope="module")
def resources() -> list[KubeResource]:
    return [parse_manifest(document) for document in DOCUMENTS]


@pytest.fixture(scope="module")
def shop() -> Iterator[Any]:
    # Import the example code location, then forget it, so other tests importing a `shop` get their own.
    before = set(sys.modules)
    sys.path.insert(0, str(EXAMPLES))
    try:
        yield importlib.import_module("shop")
    finally:
        sys.path.remove(str(EXAMPLES))
        for name in set(sys.modules) - before:
            if name == "shop" or name.startswith("shop."):
                del sys.modules[name]


def test_examples_cover_every_kind_a_user_writes(resources: list[KubeResource]) -> None:
    kinds = {type(resource) for resource in resources}
    assert {CodeLocation, AssetJob, AssetSchedule, AssetSensor, AssetRun} <= kinds
    location = next(resource for resource in resources if isinstance(resource, CodeLocation))
    assert (location.spec.image, location.spec.module) == ("kubeasset-example:latest", "shop")


@pytest.mark.parametrize("document", DOCUMENTS, ids=IDS)
def test_example_is_valid_for_the_crd_schema_and_its_rules(document: dict[str, Any]) -> None:
    schema = crd_schema(document["kind"])
    defaulted = apply_defaults(schema, document)
    assert openapi_errors(schema, defaulted) == []
    assert cel_violations(schema, defaulted) == []


def test_references_between_examples_resolve(resources: list[KubeResource]) -> None:
    names = {(resource.kind, resource.metadata.name) for resource in resources}
    for resource in resources:
        spec = resource.to_json()["spec"]
        if "job" in spec:
            assert ("AssetJob", spec["job"]) in names, resource.metadata.name
        if "codeLocation" in spec:
            assert ("CodeLocation", spec["codeLocation"]) in names, resource.metadata.name


def test_example_jobs_mirror_the_jobs_defined_in_code(resources: list[KubeResource], shop: Any) -> None:
    graph = shop.defs.asset_graph
    jobs = [resource for resource in resources if isinstance(resource, AssetJob)]
    assert sorted(job.metadata.name or "" for job in jobs) == ["marketing-job", "sales-job"]
    for job in jobs:
        code_job = (job.metadata.name or "").replace("-", "_")
        if job.spec.code_job is not None:  # used by name: it must name a job the code defines
            assert job.spec.code_job == code_job
            shop.defs.resolve_job_assets(code_job)
        else:
            assert resolve_selection(job.spec.selection, graph) == shop.defs.resolve_job_assets(code_job)


def test_example_selections_parse_and_select_assets(resources: list[KubeResource], shop: Any) -> None:
    for resource in resources:
        selection = resource.to_json()["spec"].get("selection")
        if selection is not None:
            parse_selection(selection)
            assert resolve_selection(selection, shop.defs.asset_graph), resource.metadata.name
