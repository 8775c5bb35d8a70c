"""The generated CRDs: structural, bounded, complete, presentable, deterministic and checked in."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kubeasset.api.crds import CRD_FOLDERS, REGENERATE_COMMAND, generate_crds, write_crds
from kubeasset.api.registry import RESOURCE_CLASSES
from kubeasset.api.schema import structural_schema
from kubeasset.errors import CrdSchemaError
from tests.unit.api.schema_tools import (
    all_kinds,
    compile_rule,
    crd_documents,
    crd_schema,
    schema_at,
    structural_problems,
    unbounded_nodes,
    walk,
)

REPO = Path(__file__).resolve().parents[3]
KINDS = all_kinds()

#: Short names and resource names of built-in kinds (kubectl api-resources of a 1.3x cluster), which
#: kubeasset's names must not shadow.
_BUILTIN_NAMES_TEXT = """
    cm cs csr ds deploy ep eps ev hpa ing ingclass limits netpol no ns pc pdb po psp pv pvc quota rc rs sa
    sc sts svc crd crds cj vac job jobs pod pods event events lease leases node nodes secret secrets
    cronjob cronjobs all as ar
"""
BUILTIN_NAMES = set(_BUILTIN_NAMES_TEXT.split())


@pytest.mark.parametrize("folder", CRD_FOLDERS)
def test_crds_in_the_repository_are_up_to_date(folder: str) -> None:
    # crds/ and the Helm chart's copy must both be what the models generate (Helm installs its crds/ itself).
    generated = generate_crds()
    on_disk = {path.name: path.read_text(encoding="utf-8") for path in (REPO / folder).glob("kubeasset.dev_*.yaml")}
    stale = sorted(name for name in generated.keys() | on_disk.keys() if generated.get(name) != on_disk.get(name))
    assert not stale, f"{folder}/ is stale ({', '.join(stale)}): run `{REGENERATE_COMMAND}` and commit"


def test_the_crds_command_writes_every_crd_folder_at_once(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from kubeasset.cli.crds_command import crds

    arguments = REGENERATE_COMMAND.split()[2:]  # the documented command, minus `kubeasset crds`
    with CliRunner().isolated_filesystem(temp_dir=tmp_path):
        result = CliRunner().invoke(crds, arguments)
        assert result.exit_code == 0, result.output
        for folder in CRD_FOLDERS:
            written = {path.name: path.read_text(encoding="utf-8") for path in Path(folder).glob("*.yaml")}
            assert written == generate_crds()


def test_one_file_per_kind_named_after_group_and_plural() -> None:
    names = sorted(generate_crds())
    assert names == sorted(f"kubeasset.dev_{cls.crd.plural}.yaml" for cls in RESOURCE_CLASSES)
    assert len(names) == 6


def test_generation_is_byte_identical_across_processes() -> None:
    # Different hash seeds change set and dict-of-set iteration orders: the output must not depend on them.
    script = "import json; from kubeasset.api.crds import generate_crds; print(json.dumps(generate_crds()))"
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1


def test_write_crds_writes_every_file_and_removes_files_of_vanished_kinds(tmp_path: Path) -> None:
    (tmp_path / "kubeasset.dev_oldkinds.yaml").write_text("stale", encoding="utf-8")
    (tmp_path / "README.md").write_text("kept", encoding="utf-8")
    paths = write_crds(tmp_path)
    assert sorted(path.name for path in paths) == sorted(generate_crds())
    assert not (tmp_path / "kubeasset.dev_oldkinds.yaml").exists()
    assert (tmp_path / "README.md").read_text(encoding="utf-8") == "kept"
    for path in paths:
        assert path.read_text(encoding="utf-8") == generate_crds()[path.name]


@pytest.mark.parametrize("kind", KINDS)
def test_schema_is_structural(kind: str) -> None:
    assert structural_problems(crd_schema(kind)) == []


@pytest.mark.parametrize("kind", KINDS)
def test_every_string_list_and_map_is_bounded(kind: str) -> None:
    # The API server estimates CEL costs from these bounds; an unbounded node under a rule fails the CRD.
    schema = crd_schema(kind)
    unbounded = [node for node in unbounded_nodes(schema) if not node.startswith((".apiVersion", ".kind"))]
    assert unbounded == []


@pytest.mark.parametrize("kind", KINDS)
def test_crd_envelope(kind: str) -> None:
    crd = crd_documents()[kind]
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert crd["metadata"]["name"] == f"{crd['spec']['names']['plural']}.kubeasset.dev"
    assert crd["spec"]["scope"] == "Namespaced"
    assert crd["spec"]["names"]["categories"] == ["kubeasset"]
    (version,) = crd["spec"]["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert version["subresources"] == {"status": {}}
    schema = version["schema"]["openAPIV3Schema"]
    assert schema["required"] == ["spec"]
    status = schema["properties"]["status"]["properties"]
    assert status["observedGeneration"]["type"] == "integer"
    conditions = status["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    assert conditions["items"]["properties"]["status"]["enum"] == ["True", "False", "Unknown"]
    assert "title" not in yaml.safe_dump(schema).split()


def test_names_are_unique_and_do_not_shadow_builtin_kinds() -> None:
    seen: list[str] = []
    for kind in KINDS:
        names = crd_documents()[kind]["spec"]["names"]
        seen += [names["plural"], names["singular"], *names["shortNames"]]
        assert names["shortNames"], f"{kind} has no short name"
    assert len(seen) == len(set(seen))
    assert not set(seen) & BUILTIN_NAMES


@pytest.mark.parametrize("kind", KINDS)
def test_printer_columns_point_at_fields_of_the_matching_type(kind: str) -> None:
    crd = crd_documents()[kind]
    (version,) = crd["spec"]["versions"]
    columns = version["additionalPrinterColumns"]
    assert columns[-1] == {"jsonPath": ".metadata.creationTimestamp", "name": "Age", "type": "date"}
    schema = version["schema"]["openAPIV3Schema"]
    for column in columns[:-1]:
        node = schema_at(schema, column["jsonPath"])
        expected = {
            "integer": {"integer"},
            "number": {"number", "integer"},
            "boolean": {"boolean"},
            "string": {"string", "array"},
        }
        if column["type"] == "date":
            assert (node.get("type"), node.get("format")) == ("string", "date-time"), column
        elif node.get("x-kubernetes-preserve-unknown-fields") and "type" not in node:
            assert column["type"] == "string", column  # an untyped value (cron) is shown as written
        else:
            assert node.get("type") in expected[column["type"]], column


def test_printer_columns_show_what_users_look_for() -> None:
    def headers(kind: str) -> list[str]:
        return [
            column["name"]
            for column in crd_documents()[kind]["spec"]["versions"][0]["additionalPrinterColumns"]
        ]

    assert {"Job", "Phase", "Done", "Age"} <= set(headers("AssetRun"))
    assert {"Image", "Assets", "Ready"} <= set(headers("CodeLocation"))
    assert {"Cron", "Timezone", "Suspend", "Last", "Next"} <= set(headers("AssetSchedule"))
    assert {"Key", "Group", "State", "Last Materialized"} <= set(headers("Asset"))
    assert {"Location", "Assets", "Ready"} <= set(headers("AssetJob"))
    assert {"Job", "Trigger", "Last"} <= set(headers("AssetSensor"))


def _rules(kind: str) -> dict[str, list[str]]:
    return {
        path: [rule["rule"] for rule in node["x-kubernetes-validations"]]
        for path, node in walk(crd_schema(kind))
        if "x-kubernetes-validations" in node
    }


def test_cross_field_rules_are_in_the_schema() -> None:
    run_rules = _rules("AssetRun")
    assert "has(self.job) != has(self.codeLocation)" in run_rules[".spec"]
    assert "self || !oldSelf" in run_rules[".spec.cancel"]
    assert "self == oldSelf" in run_rules[".spec.job"]
    assert any("retryOf" in rule for rule in run_rules[".spec.trigger"])
    assert any("self.deps.exists" in rule for rule in _rules("Asset")[".spec"])
    for kind in ("AssetJob", "AssetSchedule", "AssetSensor", "AssetRun"):
        assert any("k.matches(" in rule for rule in _rules(kind)[".spec.tags"]), kind


@pytest.mark.parametrize("kind", KINDS)
def test_every_cel_rule_compiles_and_has_a_message(kind: str) -> None:
    for path, node in walk(crd_schema(kind)):
        for rule in node.get("x-kubernetes-validations", []):
            compile_rule(rule["rule"])
            assert rule["message"], f"{kind}{path}: rule {rule['rule']!r} has no message"


def test_status_has_no_cel_rules() -> None:
    # Status is written by the controller from user code's output: a rule there could make a status write
    # fail and lose a run's results, and would cost CPU on every write.
    for kind in KINDS:
        assert not [path for path in _rules(kind) if path.startswith(".status")], kind


def test_names_used_in_labels_are_bounded_in_metadata() -> None:
    def name_limit(kind: str) -> int | None:
        metadata = crd_schema(kind)["properties"]["metadata"]
        limit: int | None = metadata.get("properties", {}).get("name", {}).get("maxLength")
        return limit

    assert name_limit("AssetSchedule") == name_limit("AssetSensor") == 52
    assert name_limit("CodeLocation") == name_limit("AssetJob") == 63
    assert name_limit("AssetRun") is None


def test_asset_keys_are_validated_with_the_graph_key_rule() -> None:
    key = crd_schema("Asset")["properties"]["spec"]["properties"]["key"]
    assert key["pattern"].startswith("^[A-Za-z0-9_][A-Za-z0-9_-]{0,62}(/")
    run_assets = crd_schema("AssetRun")["properties"]["status"]["properties"]["assets"]
    assert run_assets["x-kubernetes-list-type"] == "map"
    assert run_assets["x-kubernetes-list-map-keys"] == ["key"]
    assert run_assets["items"]["properties"]["key"]["pattern"] == key["pattern"]


def test_kubernetes_typed_pieces_keep_unknown_fields_and_merge_by_name() -> None:
    pod = crd_schema("CodeLocation")["properties"]["spec"]["properties"]["pod"]["properties"]
    volume = pod["volumes"]["items"]
    assert volume["x-kubernetes-preserve-unknown-fields"] is True
    assert volume["required"] == ["name"]
    assert pod["volumes"]["x-kubernetes-list-map-keys"] == ["name"]
    assert pod["volumeMounts"]["x-kubernetes-list-map-keys"] == ["mountPath"]
    assert pod["env"]["x-kubernetes-list-map-keys"] == ["name"]
    quantity = pod["resources"]["properties"]["limits"]["additionalProperties"]
    assert quantity["x-kubernetes-int-or-string"] is True


def test_converter_rejects_what_cannot_be_structural() -> None:
    from typing import Any

    from pydantic import BaseModel

    class Union(BaseModel):
        value: int | str

    class Untyped(BaseModel):
        value: Any

    class Tree(BaseModel):
        children: list[Tree]

    class WithSet(BaseModel):
        values: set[str]

    for model, message in [
        (Union, "union of 2 types"),
        (Untyped, "no type"),
        (Tree, "refers to itself"),
        (WithSet, "uniqueItems"),
    ]:
        with pytest.raises(CrdSchemaError, match=message):
            structural_schema(model)
