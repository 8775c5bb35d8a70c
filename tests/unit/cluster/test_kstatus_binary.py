"""Finding kstatus-probe without building it ($KSTATUS_PROBE, the sealed cache entry of this source revision) and
reading its verdicts; the real build and the real kstatus run in tests/integration/gitops."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kubeasset.cluster import kstatus_binary
from kubeasset.cluster.kstatus_binary import CLI_UTILS_VERSION, KstatusResult, compute_kstatus, ensure_kstatus_probe
from kubeasset.errors import BinariesError


def fake_probe(path: Path, script: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\n{script}\n", encoding="utf-8")
    path.chmod(0o755)
    return path


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KUBEASSET_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("KSTATUS_PROBE", raising=False)
    return tmp_path / "cache"


def _seal(entry: Path, revision: int) -> None:
    fake_probe(entry / "kstatus-probe", "cat")
    manifest = {"cli-utils": CLI_UTILS_VERSION, "source": revision}
    (entry / "kubeasset-kstatus.json").write_text(json.dumps(manifest), encoding="utf-8")


def test_the_env_variable_names_the_probe_to_use(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mine = fake_probe(tmp_path / "mine" / "kstatus-probe", "cat")
    monkeypatch.setenv("KSTATUS_PROBE", str(mine))
    assert ensure_kstatus_probe() == mine
    assert not cache.exists()


def test_an_env_variable_that_is_not_a_program_is_refused(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KSTATUS_PROBE", "/nonexistent/probe")
    with pytest.raises(BinariesError, match="KSTATUS_PROBE=/nonexistent/probe is not an executable"):
        ensure_kstatus_probe()


def test_a_sealed_entry_of_this_source_is_used_without_go(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entry = cache / "bin" / f"kstatus-{CLI_UTILS_VERSION}"
    _seal(entry, kstatus_binary._SOURCE_REVISION)
    monkeypatch.setenv("PATH", "")  # no go: a cache hit must not need it
    assert ensure_kstatus_probe() == entry / "kstatus-probe"


def test_an_entry_built_from_older_source_is_rebuilt_which_needs_go(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _seal(cache / "bin" / f"kstatus-{CLI_UTILS_VERSION}", kstatus_binary._SOURCE_REVISION - 1)
    monkeypatch.setenv("PATH", "")
    with pytest.raises(BinariesError, match="`go` is not on PATH"):
        ensure_kstatus_probe()


def test_verdicts_are_read_in_order_and_objects_are_sent_as_json(tmp_path: Path) -> None:
    # The fake probe answers with what it received, so the test sees the objects exactly as sent.
    received = tmp_path / "received.json"
    answer = json.dumps([{"name": "a", "status": "Current", "message": "Resource is Ready"}])
    probe = fake_probe(tmp_path / "probe", f"cat > {received}; echo '{answer}'")
    results = compute_kstatus(probe, [{"kind": "CodeLocation", "metadata": {"name": "a", "generation": 2}}])
    assert results == [KstatusResult(name="a", status="Current", message="Resource is Ready")]
    assert json.loads(received.read_text(encoding="utf-8"))[0]["metadata"]["generation"] == 2


def test_a_failing_probe_reports_its_error(tmp_path: Path) -> None:
    probe = fake_probe(tmp_path / "probe", "echo 'computing the status of a : boom' >&2; exit 1")
    with pytest.raises(BinariesError, match="exit 1.*boom"):
        compute_kstatus(probe, [{}])
