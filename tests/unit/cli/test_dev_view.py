"""What `kubeasset dev` prints about the objects it sees: each change once, in a line a person can read,
and which manifests it applies in which order."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubeasset.api.registry import parse_resource
from kubeasset.cli.dev_apply import manifest_files, read_documents
from kubeasset.cli.dev_view import DevView, Observation

NOW = datetime(2026, 11, 24, 22, 31, tzinfo=UTC)
READY = {
    "type": "Ready",
    "status": "True",
    "reason": "Discovered",
    "message": "",
    "lastTransitionTime": "2026-11-24T22:30:00Z",
}


def _obj(kind: str, name: str, spec: dict[str, Any], status: dict[str, Any] | None = None) -> Any:
    body: dict[str, Any] = {
        "apiVersion": "kubeasset.dev/v1alpha1",
        "kind": kind,
        "metadata": {"name": name, "namespace": "default", "creationTimestamp": "2026-11-24T22:30:00Z"},
        "spec": spec,
    }
    if status is not None:
        body["status"] = status
    return parse_resource(body)


def _location(status: dict[str, Any] | None) -> Any:
    return _obj("CodeLocation", "shop", {"image": "img", "module": "shop"}, status)


def test_a_location_line_is_printed_when_it_reads_differently() -> None:
    view = DevView()
    lines, view = view.update(Observation(locations=[_location(None)]), NOW)
    assert lines == ["codelocation default/shop discovering (module shop)"]
    assert view.update(Observation(locations=[_location(None)]), NOW)[0] == []
    ready = {"conditions": [READY], "assets": {"count": 9, "groups": ["marketing", "sales"]}}
    lines, view = view.update(Observation(locations=[_location(ready)]), NOW)
    assert lines == ["codelocation default/shop Ready: 9 assets in groups marketing, sales"]
    failed = {**READY, "status": "False", "reason": "DiscoveryFailed", "message": "Traceback...\nImportError: no shop"}
    lines, _ = view.update(Observation(locations=[_location({"conditions": [failed]})]), NOW)
    assert lines == ["codelocation default/shop not ready (DiscoveryFailed): ImportError: no shop"]


def test_jobs_runs_and_warnings() -> None:
    job = _obj(
        "AssetJob",
        "sales-job",
        {"codeLocation": "shop", "selection": "group:sales"},
        {"conditions": [READY], "assets": ["raw/orders", "cleaned_orders"], "assetCount": 2},
    )
    pending = _obj("AssetRun", "first", {"job": "sales-job"})
    warning = {
        "metadata": {"uid": "e1"},
        "involvedObject": {"kind": "AssetRun", "namespace": "default", "name": "first"},
        "reason": "ReconcileFailed",
        "message": "boom",
        "count": 1,
    }
    view = DevView()
    lines, view = view.update(Observation(jobs=[job], runs=[pending], warnings=[warning]), NOW)
    assert lines == [
        "assetjob default/sales-job resolved: 2 assets (raw/orders, cleaned_orders)",
        "assetrun default/first (job sales-job, trigger Manual): Pending",
        "warning AssetRun default/first ReconcileFailed: boom",
    ]
    running = _obj(
        "AssetRun",
        "first",
        {"job": "sales-job"},
        {"phase": "Running", "assets": [{"key": "raw/orders", "state": "Materialized", "durationSeconds": 0.5}]},
    )
    lines, view = view.update(Observation(jobs=[job], runs=[running], warnings=[{**warning, "count": 2}]), NOW)
    assert lines == [
        "run first Running: 1 asset(s)",
        "run first materialized  raw/orders in 0.50s",
        "warning AssetRun default/first ReconcileFailed (x2): boom",
    ]
    done = _obj(
        "AssetRun",
        "first",
        {"job": "sales-job"},
        {"phase": "Succeeded", "assets": [{"key": "raw/orders", "state": "Materialized", "durationSeconds": 0.5}]},
    )
    lines, view = view.update(Observation(runs=[done]), NOW)
    assert lines == ["run first succeeded: 1 materialized, 0 failed, 0 skipped of 1"]
    assert view.update(Observation(runs=[done]), NOW)[0] == []


def test_manifests_are_read_recursively_in_order_and_bad_documents_named(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "b" / "01-job.yml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n")
    (tmp_path / "a.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n---\nkind: X\n")
    (tmp_path / "c.yaml").write_text("key: [unclosed\n")
    (tmp_path / ".hidden" / "d.yaml").write_text("apiVersion: v1\n")
    (tmp_path / "code.py").write_text("")
    files = manifest_files(tmp_path)
    assert [path.relative_to(tmp_path).as_posix() for path in files] == ["a.yaml", "b/01-job.yml", "c.yaml"]
    documents = read_documents(files)
    assert [(doc.source.name, doc.index, doc.problem is None) for doc in documents] == [
        ("a.yaml", 1, True),
        ("a.yaml", 3, False),
        ("01-job.yml", 1, True),
        ("c.yaml", 1, False),
    ]
    assert documents[1].problem == "apiVersion and kind are required"
