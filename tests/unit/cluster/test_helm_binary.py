"""Finding helm without building it: $HELM, the sealed cache entry, and the shared build-aside-and-seal rule
that keeps an interrupted build from ever looking like a cache hit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kubeasset.cluster.cache_entry import build_entry, read_manifest
from kubeasset.cluster.helm_binary import HELM_VERSION, ensure_helm, helm_ldflags
from kubeasset.errors import BinariesError


def fake_helm(path: Path, version: str = "v4.3.1") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\necho {version}\n", encoding="utf-8")
    path.chmod(0o755)
    return path


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KUBEASSET_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("HELM", raising=False)
    return tmp_path / "cache"


def test_helm_env_names_the_helm_to_use(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELM", str(fake_helm(tmp_path / "mine" / "helm", "v3.19.0")))
    found = ensure_helm()
    assert (found.path, found.version, found.source) == (tmp_path / "mine" / "helm", "v3.19.0", "HELM")
    assert not cache.exists()  # nothing built, nothing cached


def test_helm_env_that_is_not_a_program_is_refused(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELM", "/nonexistent/helm")
    with pytest.raises(BinariesError, match="HELM=/nonexistent/helm is not an executable"):
        ensure_helm()


def test_a_sealed_cache_entry_is_used_without_go(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entry = cache / "bin" / f"helm-{HELM_VERSION}"
    fake_helm(entry / "helm")
    (entry / "kubeasset-helm.json").write_text(json.dumps({"helm": HELM_VERSION}), encoding="utf-8")
    monkeypatch.setenv("PATH", "")  # no go: a cache hit must not need it
    found = ensure_helm()
    assert (found.path, found.source) == (entry / "helm", "cache")


def test_an_unsealed_or_other_version_entry_is_rebuilt_which_needs_go(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = cache / "bin" / f"helm-{HELM_VERSION}"
    fake_helm(entry / "helm")
    (entry / "kubeasset-helm.json").write_text(json.dumps({"helm": "v4.0.0"}), encoding="utf-8")
    monkeypatch.setenv("PATH", "")
    with pytest.raises(BinariesError, match="`go` is not on PATH"):
        ensure_helm()


def test_build_entry_seals_last_and_leaves_nothing_behind_a_failed_build(tmp_path: Path) -> None:
    entry = tmp_path / "bin" / "tool-v1"

    def failing(staging: Path) -> None:
        (staging / "tool").write_text("half", encoding="utf-8")
        raise BinariesError("compile error")

    with pytest.raises(BinariesError):
        build_entry(entry, "manifest.json", {"tool": "v1"}, failing)
    assert not entry.exists() and not entry.with_name("tool-v1.partial").exists()

    build_entry(entry, "manifest.json", {"tool": "v1"}, lambda staging: (staging / "tool").write_text("ok"))
    assert (entry / "tool").read_text() == "ok"
    assert read_manifest(entry, "manifest.json") == {"tool": "v1"}


def test_ldflags_stamp_the_release_into_helm_version() -> None:
    assert "-X helm.sh/helm/v4/internal/version.version=v4.3.1" in helm_ldflags("v4.3.1")


def test_the_cluster_helm_command_prints_the_path(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from kubeasset.cli.cluster_commands import cluster

    monkeypatch.setenv("HELM", str(fake_helm(tmp_path / "mine" / "helm")))
    result = CliRunner().invoke(cluster, ["helm"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(tmp_path / "mine" / "helm")
