"""The discovery Pod: its manifest, and reading its output (the runner's real ``describe`` output where it
matters) into a graph or a failure a person can act on."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kubeasset.graph import AssetKey
from kubeasset.reconcile.discovery import DiscoveryDefaults, build_discovery_pod
from kubeasset.reconcile.discovery_result import (
    DEFINITIONS_NOT_FOUND,
    DISCOVERY_FAILED,
    IMPORT_ERROR,
    INVALID_DEFINITIONS,
    INVALID_GRAPH,
    parse_discovery,
    reason_for_cause,
    termination_graph_hash,
)
from kubeasset.reconcile.naming import (
    CODE_LOCATION_LABEL,
    COMPONENT_LABEL,
    DISCOVERY_HASH_ANNOTATION,
    discovery_pod_name,
)
from kubeasset.sdk.runner_protocol import graph_hash
from tests.unit.reconcile.location_builders import LOCATION_UID, NOW, make_location, wide_graph

# --- the Pod --------------------------------------------------------------------------------------------


def pod_for(**location: Any) -> dict[str, Any]:
    return build_discovery_pod(make_location(**location), now=NOW, defaults=DiscoveryDefaults())


def test_discovery_pod_runs_describe_in_the_locations_image() -> None:
    pod = pod_for(spec={"workingDirectory": "/app"})
    (container,) = pod["spec"]["containers"]
    assert pod["metadata"]["name"] == discovery_pod_name(make_location(spec={"workingDirectory": "/app"}), NOW)
    assert container["image"] == "registry.example/shop:1.0"
    assert container["command"] == ["python", "-m", "kubeasset.runner", "describe"]
    assert container["args"] == ["--module", "shop", "--working-directory", "/app"]
    assert container["terminationMessagePolicy"] == "FallbackToLogsOnError"


def test_discovery_pod_is_short_lived_credential_free_and_restricted() -> None:
    pod = pod_for()
    spec = pod["spec"]
    assert spec["restartPolicy"] == "Never"
    assert spec["automountServiceAccountToken"] is False
    assert spec["activeDeadlineSeconds"] == DiscoveryDefaults().active_deadline_seconds
    assert spec["securityContext"] == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    assert spec["containers"][0]["securityContext"] == {
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
        "readOnlyRootFilesystem": False,
    }
    assert spec["containers"][0]["resources"] == {
        "requests": {"cpu": "100m", "memory": "256Mi"},
        "limits": {"memory": "1Gi"},
    }


def test_discovery_pod_is_owned_labelled_and_annotated() -> None:
    pod = pod_for(spec={"pod": {"labels": {"team": "sales", CODE_LOCATION_LABEL: "spoofed"}}})
    metadata = pod["metadata"]
    assert metadata["namespace"] == "data"
    assert metadata["ownerReferences"][0]["uid"] == LOCATION_UID
    assert metadata["ownerReferences"][0]["controller"] is True
    assert metadata["labels"]["team"] == "sales"
    assert metadata["labels"][CODE_LOCATION_LABEL] == "shop"  # kubeasset's labels win
    assert metadata["labels"][COMPONENT_LABEL] == "discovery"
    assert metadata["name"].endswith(metadata["annotations"][DISCOVERY_HASH_ANNOTATION])


def test_discovery_pod_takes_the_locations_pod_settings() -> None:
    settings = {
        "env": [{"name": "REGION", "value": "eu"}],
        "envFrom": [{"secretRef": {"name": "db"}}],
        "resources": {"limits": {"memory": "4Gi"}},
        "serviceAccountName": "shop-reader",
        "imagePullPolicy": "Always",
        "imagePullSecrets": [{"name": "registry"}],
        "nodeSelector": {"pool": "batch"},
        "tolerations": [{"key": "batch", "operator": "Exists"}],
        "affinity": {"nodeAffinity": {}},
        "priorityClassName": "low",
        "volumes": [{"name": "code", "configMap": {"name": "code"}}],
        "volumeMounts": [{"name": "code", "mountPath": "/code"}],
        "annotations": {"sidecar.istio.io/inject": "false"},
        "securityContext": {"runAsUser": 1000},
        "podSecurityContext": {"fsGroup": 2000},
    }
    pod = pod_for(spec={"pod": settings})
    spec, container = pod["spec"], pod["spec"]["containers"][0]
    assert container["env"] == settings["env"] and container["envFrom"] == settings["envFrom"]
    assert container["resources"] == {"limits": {"memory": "4Gi"}}  # the location's, not the default
    assert container["imagePullPolicy"] == "Always"
    assert container["volumeMounts"] == [{"name": "code", "mountPath": "/code"}]
    assert container["securityContext"] == {"runAsUser": 1000}
    assert spec["securityContext"] == {"fsGroup": 2000}
    for field in (
        "serviceAccountName",
        "imagePullSecrets",
        "nodeSelector",
        "tolerations",
        "affinity",
        "priorityClassName",
    ):
        assert spec[field] == settings[field], field
    assert spec["volumes"] == [{"name": "code", "configMap": {"name": "code"}}]
    assert pod["metadata"]["annotations"]["sidecar.istio.io/inject"] == "false"
    assert spec["automountServiceAccountToken"] is False  # even with a service account


def test_discovery_pod_without_default_resources() -> None:
    pod = build_discovery_pod(make_location(), now=NOW, defaults=DiscoveryDefaults(resources=None))
    assert "resources" not in pod["spec"]["containers"][0]


# --- the runner's real output ---------------------------------------------------------------------------

GOOD_MODULE = """
import sys
from kubeasset import Definitions, asset, define_asset_job

print("importing shop", file=sys.stderr)
print('{"kind": "CodeLocationDescription", "user": "json on stdout while importing"}')

@asset(group_name="raw", code_version="1")
def raw_orders() -> list[int]:
    return [3, 1, 2]

@asset(key_prefix="warehouse", group_name="sales", tags={"tier": "gold"})
def orders(raw_orders: list[int]) -> list[int]:
    \"\"\"Sorted orders.\"\"\"
    return sorted(raw_orders)

defs = Definitions(
    assets=[raw_orders, orders],
    jobs=[define_asset_job("daily_sales", "group:sales", tags={"team": "sales"}, description="Daily.")],
)
"""

CYCLE_MODULE = """
from kubeasset import Definitions, asset, AssetIn

@asset(ins={"b": AssetIn("b")})
def a(b): return b

@asset(ins={"a": AssetIn("a")})
def b(a): return a

defs = Definitions(assets=[a, b])
"""


@dataclass(frozen=True)
class Output:
    log: str
    termination: str | None
    exit_code: int


def describe(tmp_path: Path, name: str, source: str) -> Output:
    directory = tmp_path / name
    directory.mkdir()
    (directory / f"{name}.py").write_text(textwrap.dedent(source))
    termination = directory / "termination-log"
    done = subprocess.run(
        [sys.executable, "-m", "kubeasset.runner", "describe", "--module", name]
        + ["--working-directory", str(directory), "--termination-log", str(termination)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    # The Pod log interleaves both streams; stderr first is the order the runner writes them in.
    return Output(done.stderr + done.stdout, termination.read_text() if termination.exists() else None, done.returncode)


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Output]:
    base = tmp_path_factory.mktemp("describe")
    return {
        "good": describe(base, "good_shop", GOOD_MODULE),
        "missing_import": describe(base, "broken_shop", "import pandas_that_is_not_installed\n"),
        "cycle": describe(base, "cycle_shop", CYCLE_MODULE),
        "no_definitions": describe(base, "empty_shop", "X = 1\n"),
    }


def test_parse_a_successful_describe(outputs: dict[str, Output]) -> None:
    out = outputs["good"]
    result = parse_discovery(out.log, out.termination, out.exit_code, location_name="shop")
    assert result.ok, result.failure
    assert result.graph is not None and result.graph.code_location == "shop"
    assert result.graph.topological_order == (AssetKey("raw_orders"), AssetKey(["warehouse", "orders"]))
    orders = result.graph.specs[AssetKey(["warehouse", "orders"])]
    assert orders.deps == (AssetKey("raw_orders"),) and orders.group_name == "sales"
    assert orders.description == "Sorted orders." and dict(orders.tags) == {"tier": "gold"}
    assert result.graph.specs[AssetKey("raw_orders")].code_version == "1"
    (job,) = result.jobs
    assert (job.name, job.selection, job.description) == ("daily_sales", "group:sales", "Daily.")
    assert dict(job.tags) == {"team": "sales"}
    assert job.asset_keys == (AssetKey(["warehouse", "orders"]),)
    assert result.graph_hash == termination_graph_hash(out.termination) and result.module == "good_shop"


@pytest.mark.parametrize("ending", ["\n", "\r\n"])
@pytest.mark.parametrize("noise_after", [0, 1, 3])
def test_the_document_is_found_among_user_output_with_either_line_ending(
    outputs: dict[str, Output], ending: str, noise_after: int
) -> None:
    out = outputs["good"]
    user_output = ["importing shop", '{"not": "the document"}', "", "  "]
    lines = [*user_output, *out.log.splitlines(), *user_output[:noise_after]]
    result = parse_discovery(ending.join(lines) + ending, out.termination, out.exit_code, location_name="shop")

    assert result.ok, result.failure
    assert result.graph is not None and len(result.graph) == 2


def test_a_log_cut_short_is_an_error_not_half_a_graph(outputs: dict[str, Output]) -> None:
    out = outputs["good"]
    cut = out.log[: out.log.index('"jobs"')]
    result = parse_discovery(cut, out.termination, out.exit_code)
    assert not result.ok and result.failure is not None
    assert result.failure.reason == DISCOVERY_FAILED and "no complete describe document" in result.failure.message


def test_a_document_that_is_not_the_one_the_runner_finished_with_is_an_error(outputs: dict[str, Output]) -> None:
    out = outputs["good"]
    termination = json.loads(out.termination or "{}") | {"graphHash": "0" * 16}
    result = parse_discovery(out.log, json.dumps(termination), 0)
    assert result.failure is not None and result.failure.reason == DISCOVERY_FAILED
    assert "not the one the runner finished with" in result.failure.message


def test_a_corrupt_document_is_an_error(outputs: dict[str, Output]) -> None:
    out = outputs["good"]
    result = parse_discovery(out.log.replace("Sorted orders.", "Sorted ORDERS."), out.termination, 0)
    assert result.failure is not None and "does not match its assets" in result.failure.message


def test_without_termination_message_a_self_consistent_document_is_accepted(outputs: dict[str, Output]) -> None:
    assert parse_discovery(outputs["good"].log, None, 0).ok


def test_a_document_followed_by_a_crash_is_an_error(outputs: dict[str, Output]) -> None:
    result = parse_discovery(outputs["good"].log, "Killed", 137)
    assert result.failure is not None and "exited with code 137" in result.failure.message


def test_parse_an_import_error(outputs: dict[str, Output]) -> None:
    out = outputs["missing_import"]
    assert out.exit_code == 1
    result = parse_discovery(out.log, out.termination, out.exit_code)
    assert result.failure is not None
    assert (result.failure.reason, result.failure.cause_type) == (IMPORT_ERROR, "ModuleNotFoundError")
    assert "pandas_that_is_not_installed" in result.failure.message
    assert result.failure.in_code


def test_parse_a_cycle(outputs: dict[str, Output]) -> None:
    out = outputs["cycle"]
    result = parse_discovery(out.log, out.termination, out.exit_code)
    assert result.failure is not None and result.failure.reason == INVALID_GRAPH
    assert "cycle" in result.failure.message


def test_parse_a_module_without_definitions(outputs: dict[str, Output]) -> None:
    out = outputs["no_definitions"]
    result = parse_discovery(out.log, out.termination, out.exit_code)
    assert result.failure is not None and result.failure.reason == DEFINITIONS_NOT_FOUND


def test_only_the_error_summary_is_enough(outputs: dict[str, Output]) -> None:
    out = outputs["missing_import"]
    result = parse_discovery("", out.termination, 1)
    assert result.failure is not None and result.failure.reason == IMPORT_ERROR
    assert "pandas_that_is_not_installed" in result.failure.message


# --- documents the controller must refuse ---------------------------------------------------------------


def document(assets: list[dict[str, Any]], jobs: list[dict[str, Any]] | None = None, **extra: Any) -> str:
    doc = {"v": 1, "kind": "CodeLocationDescription", "module": "shop", "graphHash": graph_hash(assets)}
    doc |= {"assets": assets, "jobs": jobs or []} | extra
    return json.dumps(doc, separators=(",", ":"))


def asset(key: str, *deps: str) -> dict[str, Any]:
    return {"key": key, "deps": list(deps), "group": "default", "tags": {}, "owners": [], "kinds": []}


@pytest.mark.parametrize(
    ("log", "exit_code", "reason", "words"),
    [
        (document([asset("a", "ghost")]), 0, INVALID_GRAPH, "depends on ghost"),
        (document([asset("a", "b"), asset("b", "a")]), 0, INVALID_GRAPH, "dependency cycle"),
        (document([asset("a"), asset("a")]), 0, INVALID_GRAPH, "duplicate asset key a"),
        (document([asset("bad key")]), 0, INVALID_DEFINITIONS, "invalid asset key part"),
        (document([{"deps": []}]), 0, DISCOVERY_FAILED, "malformed asset entry"),
        (document([asset("a")], [{"name": "j", "assetKeys": ["no such/key!"]}]), 0, INVALID_DEFINITIONS, "invalid"),
        (document([asset("a")], v=2), 0, DISCOVERY_FAILED, "protocol version 2"),
        (
            "Traceback (most recent call last):\nRuntimeError: runner bug",
            3,
            DISCOVERY_FAILED,
            "RuntimeError: runner bug",
        ),
        ("", 137, DISCOVERY_FAILED, "exited with code 137"),
        ("", 0, DISCOVERY_FAILED, "no complete describe document"),
        ("usage: kubeasset.runner describe", 2, DISCOVERY_FAILED, "rejected its arguments"),
        ("", None, DISCOVERY_FAILED, "without an exit code"),
    ],
    ids=[
        "unknown-dep",
        "cycle",
        "duplicate",
        "bad-key",
        "no-key",
        "bad-job-key",
        "version",
        "crash",
        "killed",
        "empty-log",
        "bad-arguments",
        "no-exit-code",
    ],
)
def test_refused_output(log: str, exit_code: int | None, reason: str, words: str) -> None:
    result = parse_discovery(log, None, exit_code)
    assert not result.ok and result.failure is not None
    assert result.failure.reason == reason
    assert words in result.failure.message


def test_a_crash_message_from_the_log_fallback_is_reported() -> None:
    # FallbackToLogsOnError: the termination message is the log's tail when the runner wrote none.
    result = parse_discovery("lots of output\n", "Segmentation fault in _native.so", 139)
    assert result.failure is not None and "Segmentation fault in _native.so" in result.failure.message


@pytest.mark.parametrize(
    ("cause", "reason"),
    [
        ("CycleError", INVALID_GRAPH),
        ("UnknownDependencyError", INVALID_GRAPH),
        ("DuplicateKeyError", INVALID_GRAPH),
        ("InvalidAssetKeyError", INVALID_DEFINITIONS),
        ("SelectionSyntaxError", INVALID_DEFINITIONS),
        ("kubeasset.errors.EmptySelectionError", INVALID_DEFINITIONS),
        ("ModuleNotFoundError", IMPORT_ERROR),
        ("SyntaxError", IMPORT_ERROR),
        ("KeyError", IMPORT_ERROR),
        (None, DEFINITIONS_NOT_FOUND),
        ("CodeLocationLoadError", DEFINITIONS_NOT_FOUND),
    ],
)
def test_reason_for_cause(cause: str | None, reason: str) -> None:
    assert reason_for_cause(cause) == reason


# --- scale ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_output() -> tuple[str, str]:
    graph = wide_graph(10_000)
    assets = [graph.specs[key].to_dict() | {"metadata": {}} for key in graph.topological_order]
    doc = {"v": 1, "kind": "CodeLocationDescription", "module": "big", "graphHash": graph_hash(assets)}
    doc |= {"assets": assets, "jobs": [{"name": "all", "selection": "*", "assetKeys": []}]}
    termination = {"v": 1, "run": "describe", "result": "Succeeded", "exitCode": 0}
    termination |= {"assets": len(assets), "jobs": 1, "graphHash": doc["graphHash"]}
    return "importing big\n" + json.dumps(doc, separators=(",", ":")) + "\n", json.dumps(termination)


def test_parse_ten_thousand_assets(big_output: tuple[str, str]) -> None:
    log, termination = big_output
    started = time.perf_counter()
    result = parse_discovery(log, termination, 0, location_name="big")
    elapsed = time.perf_counter() - started
    print(f"parse_discovery, 10,000 assets ({len(log) / 1e6:.1f} MB of log): {elapsed * 1000:.0f} ms")
    assert result.ok and result.graph is not None and len(result.graph) == 10_000


def test_ten_thousand_assets_cut_anywhere_never_give_a_graph(big_output: tuple[str, str]) -> None:
    log, termination = big_output
    cuts: list[Callable[[str], str]] = [lambda text: text[: len(text) // 2], lambda text: text[:-2000] + "\n"]
    for cut in cuts:
        assert not parse_discovery(cut(log), termination, 0).ok
