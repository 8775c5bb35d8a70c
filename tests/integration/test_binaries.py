"""The control-plane binaries and kubectl: built once from the Go module proxy and cached, or taken from
envtest assets.

The first run on a fresh machine compiles Kubernetes (many minutes on 2 cores); later runs hit the cache.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from kubeasset.cli.cluster_commands import cluster
from kubeasset.cluster.binaries import (
    ETCD_VERSION,
    KUBECTL,
    KUBERNETES_VERSION,
    PROGRAMS,
    ControlPlaneBinaries,
    ensure_binaries,
)
from kubeasset.cluster.go_build import staging_replacements
from kubeasset.errors import BinariesError, KubeassetError

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def built() -> tuple[ControlPlaneBinaries, list[str]]:
    """The binaries from the cache (building them on a cold machine), with the progress lines printed."""
    saved = os.environ.pop("KUBEBUILDER_ASSETS", None)
    messages: list[str] = []
    try:
        binaries = ensure_binaries(progress=messages.append)
    finally:
        if saved is not None:
            os.environ["KUBEBUILDER_ASSETS"] = saved
    return binaries, messages


@pytest.fixture
def no_go(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH without `go` and an empty cache, so any attempt to build fails instead of taking minutes."""
    empty_bin = tmp_path / "empty-bin"
    empty_bin.mkdir()
    cache = tmp_path / "cache"
    monkeypatch.setenv("PATH", str(empty_bin))
    monkeypatch.setenv("KUBEASSET_CACHE_DIR", str(cache))
    monkeypatch.delenv("KUBEBUILDER_ASSETS", raising=False)
    return cache


def _version_output(program: Path) -> str:
    return subprocess.run([program, "--version"], capture_output=True, text=True, check=True, timeout=60).stdout


@pytest.mark.timeout(3600)
def test_built_programs_print_the_chosen_versions(built: tuple[ControlPlaneBinaries, list[str]]) -> None:
    binaries, messages = built
    assert binaries.kubernetes_version == KUBERNETES_VERSION
    assert binaries.etcd_version == ETCD_VERSION
    assert _version_output(binaries.kube_apiserver).strip() == f"Kubernetes {KUBERNETES_VERSION}"
    assert _version_output(binaries.kube_controller_manager).strip() == f"Kubernetes {KUBERNETES_VERSION}"
    assert f"etcd Version: {ETCD_VERSION.removeprefix('v')}" in _version_output(binaries.etcd)
    assert binaries.kubectl is not None and binaries.kubectl.parent == binaries.directory
    kubectl_version = subprocess.run(
        [binaries.kubectl, "version", "--client"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert f"Client Version: {KUBERNETES_VERSION}" in kubectl_version
    if binaries.source == "build":
        # A cold build takes minutes: the user must see what is going on.
        assert any("compiling" in message for message in messages)


def test_second_call_reuses_the_cache(built: tuple[ControlPlaneBinaries, list[str]]) -> None:
    binaries, _ = built
    saved = os.environ.pop("KUBEBUILDER_ASSETS", None)
    progress: list[str] = []
    try:
        again = ensure_binaries(progress=progress.append)
    finally:
        if saved is not None:
            os.environ["KUBEBUILDER_ASSETS"] = saved
    assert again.source == "cache"
    assert again.kube_apiserver == binaries.kube_apiserver
    assert progress == []


def test_kubebuilder_assets_folder_is_used_without_building(
    built: tuple[ControlPlaneBinaries, list[str]],
    tmp_path: Path,
    no_go: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    binaries, _ = built
    assets = _envtest_folder(tmp_path, binaries)
    (assets / KUBECTL).symlink_to(binaries.require_kubectl())
    monkeypatch.setenv("KUBEBUILDER_ASSETS", str(assets))
    said: list[str] = []

    found = ensure_binaries(progress=said.append)

    assert found.source == "KUBEBUILDER_ASSETS"
    assert found.kube_apiserver == assets / "kube-apiserver"
    assert found.etcd == assets / "etcd"
    assert found.kubectl == assets / "kubectl"
    assert (found.kubernetes_version, found.etcd_version) == (KUBERNETES_VERSION, ETCD_VERSION)
    assert not no_go.exists()  # nothing was built or cached
    assert said == []


def test_kubebuilder_assets_folder_without_kubectl_falls_back_to_path_and_says_so(
    built: tuple[ControlPlaneBinaries, list[str]],
    tmp_path: Path,
    no_go: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    binaries, _ = built
    assets = _envtest_folder(tmp_path, binaries)
    monkeypatch.setenv("KUBEBUILDER_ASSETS", str(assets))

    said: list[str] = []
    without = ensure_binaries(progress=said.append)  # PATH (see no_go) holds no kubectl
    assert without.kubectl is None
    assert said == [f"KUBEBUILDER_ASSETS={assets} has no kubectl; none on PATH either"]
    with pytest.raises(BinariesError, match="no kubectl") as raised:
        without.require_kubectl()
    assert "unset KUBEBUILDER_ASSETS" in str(raised.value)

    on_path = tmp_path / "empty-bin" / "kubectl"
    on_path.symlink_to(binaries.require_kubectl())
    said.clear()
    found = ensure_binaries(progress=said.append)
    assert found.kubectl == on_path
    assert said == [f"KUBEBUILDER_ASSETS={assets} has no kubectl; using {on_path} from PATH (its version may differ)"]


def test_kubebuilder_assets_folder_missing_a_program_names_it(
    built: tuple[ControlPlaneBinaries, list[str]],
    tmp_path: Path,
    no_go: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    binaries, _ = built
    assets = tmp_path / "incomplete"
    assets.mkdir()
    (assets / "kube-apiserver").symlink_to(binaries.kube_apiserver)
    (assets / "kube-controller-manager").symlink_to(binaries.kube_controller_manager)
    monkeypatch.setenv("KUBEBUILDER_ASSETS", str(assets))

    with pytest.raises(BinariesError, match=r"lacks the executable\(s\) etcd") as raised:
        ensure_binaries()
    assert str(assets) in str(raised.value)


def test_kubebuilder_assets_naming_no_folder_is_an_error(
    tmp_path: Path, no_go: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBEBUILDER_ASSETS", str(tmp_path / "nowhere"))
    with pytest.raises(BinariesError, match="is not a folder"):
        ensure_binaries()


def test_missing_go_is_a_clear_error_and_leaves_no_cache_behind(no_go: Path) -> None:
    with pytest.raises(BinariesError, match="`go` is not on PATH") as raised:
        ensure_binaries()
    assert "KUBEBUILDER_ASSETS" in str(raised.value)  # the way out without Go
    assert isinstance(raised.value, KubeassetError)  # so the CLI prints one line, not a traceback
    assert not (no_go / "bin").exists()


def test_an_unsealed_cache_folder_is_not_trusted(built: tuple[ControlPlaneBinaries, list[str]], no_go: Path) -> None:
    """A build interrupted before its manifest was written must not be mistaken for a finished one."""
    binaries, _ = built
    folder = no_go / "bin" / KUBERNETES_VERSION
    folder.mkdir(parents=True)
    for name, target in zip(
        PROGRAMS, (binaries.kube_apiserver, binaries.kube_controller_manager, binaries.etcd), strict=True
    ):
        (folder / name).symlink_to(target)
    with pytest.raises(BinariesError, match="`go` is not on PATH"):
        ensure_binaries()


def test_a_cache_entry_from_before_kubectl_is_rebuilt(
    built: tuple[ControlPlaneBinaries, list[str]], no_go: Path
) -> None:
    """Entries written before kubectl joined the cache (no "programs" key) are not trusted: built again once."""
    binaries, _ = built
    folder = no_go / "bin" / KUBERNETES_VERSION
    folder.mkdir(parents=True)
    for name in (*PROGRAMS, KUBECTL):
        (folder / name).symlink_to(binaries.directory / name)
    old_manifest = {"kubernetes": KUBERNETES_VERSION, "etcd": ETCD_VERSION, "go": "go1.26.8"}
    (folder / "kubeasset-binaries.json").write_text(json.dumps(old_manifest))
    with pytest.raises(BinariesError, match="`go` is not on PATH"):  # it wants to build
        ensure_binaries()

    (folder / "kubeasset-binaries.json").write_text(json.dumps({**old_manifest, "programs": [*PROGRAMS, KUBECTL]}))
    assert ensure_binaries().source == "cache"  # the same files with a current manifest are used


def test_cli_prints_the_paths(built: tuple[ControlPlaneBinaries, list[str]], monkeypatch: pytest.MonkeyPatch) -> None:
    binaries, _ = built
    monkeypatch.delenv("KUBEBUILDER_ASSETS", raising=False)
    runner = CliRunner()

    listing = runner.invoke(cluster, ["binaries"])
    folder = runner.invoke(cluster, ["binaries", "--assets-dir"])

    assert listing.exit_code == 0, listing.output
    assert str(binaries.kube_apiserver) in listing.output
    assert str(binaries.etcd) in listing.output
    assert f"kubectl                  {binaries.kubectl}" in listing.output
    assert KUBERNETES_VERSION in listing.output
    assert folder.exit_code == 0, folder.output
    assert folder.output.strip() == str(binaries.directory)


def test_staging_replacements_follow_the_release_go_mod() -> None:
    go_mod = """module k8s.io/kubernetes

require (
\tk8s.io/api v0.0.0
\tk8s.io/streaming v0.0.0
)

replace (
\tgithub.com/some/fork => github.com/other/fork v1.2.3
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/streaming => ./staging/src/k8s.io/streaming
)

replace k8s.io/kms => ./staging/src/k8s.io/kms
"""
    assert staging_replacements(go_mod, "v1.36.3") == {
        "k8s.io/api": "v0.36.3",
        "k8s.io/streaming": "v0.36.3",
        "k8s.io/kms": "v0.36.3",
    }
    with pytest.raises(BinariesError, match="unexpected Kubernetes version"):
        staging_replacements(go_mod, "1.36")


def test_a_failing_go_command_is_reported_with_its_output_and_log(no_go: Path, tmp_path: Path) -> None:
    """E.g. the module proxy unreachable: the user sees go's own words and where the full log is."""
    fake_go = tmp_path / "empty-bin" / "go"
    fake_go.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = env ]; then echo go1.26.0; exit 0; fi\n'
        'echo "go: k8s.io/kubernetes@v1.36.3: Get https://proxy.invalid: dial tcp: no such host" >&2\n'
        "exit 1\n"
    )
    fake_go.chmod(0o755)

    with pytest.raises(BinariesError, match="dial tcp: no such host") as raised:
        ensure_binaries()
    message = str(raised.value)
    assert "full log: " in message
    assert Path(message.rsplit("full log: ", 1)[1].strip()).is_file()
    assert [path.name for path in (no_go / "bin").iterdir() if path.is_dir()] == []  # nothing half-built


def _envtest_folder(tmp_path: Path, binaries: ControlPlaneBinaries) -> Path:
    """A KUBEBUILDER_ASSETS-style folder holding links to the three control-plane programs (no kubectl)."""
    assets = tmp_path / "envtest-assets"
    assets.mkdir()
    for name, target in zip(
        PROGRAMS, (binaries.kube_apiserver, binaries.kube_controller_manager, binaries.etcd), strict=True
    ):
        (assets / name).symlink_to(target)
    return assets
