"""Finds or builds the control-plane programs (kube-apiserver, kube-controller-manager, etcd) and the
version-matched kubectl that the integration tests and `kubeasset cluster` run, so that no checkout ever
carries a binary.

Order of preference: the folder named by ``KUBEBUILDER_ASSETS`` (controller-runtime's envtest convention),
then the kubeasset cache (``$KUBEASSET_CACHE_DIR`` or ``~/.cache/kubeasset``) keyed by version, then a fresh
``go build`` from the Go module proxy into that cache.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from kubeasset.cluster import go_build
from kubeasset.cluster.cache_entry import CACHE_ENV as CACHE_ENV  # re-exported: part of this module's API
from kubeasset.cluster.cache_entry import build_entry, exclusive, read_manifest
from kubeasset.cluster.cache_entry import cache_root as cache_root  # re-exported: part of this module's API
from kubeasset.cluster.cache_entry import is_executable as _is_executable
from kubeasset.errors import BinariesError

#: The Kubernetes release whose kube-apiserver and kube-controller-manager are built: the newest whose
#: etcd requirement is a v3.6 server and that builds with Go 1.26 (v1.37 moved to etcd v3.7).
KUBERNETES_VERSION = "v1.36.3"
#: The etcd server built: the newest v3.6 patch; Kubernetes v1.36 requires the v3.6 client API.
ETCD_VERSION = "v3.6.16"

#: The file names, as in an envtest assets folder.
KUBE_APISERVER = "kube-apiserver"
KUBE_CONTROLLER_MANAGER = "kube-controller-manager"
ETCD = "etcd"
KUBECTL = "kubectl"
#: The programs a control plane needs; an envtest/KUBEBUILDER_ASSETS folder must hold all of them.
PROGRAMS = (KUBE_APISERVER, KUBE_CONTROLLER_MANAGER, ETCD)
#: What a kubeasset cache entry holds: the control plane plus a kubectl of the very same release, so tests
#: and docs never depend on whichever kubectl (if any) the machine happens to have.
CACHED_PROGRAMS = (*PROGRAMS, KUBECTL)

ASSETS_ENV = "KUBEBUILDER_ASSETS"
_MANIFEST = "kubeasset-binaries.json"


@dataclass(frozen=True)
class ControlPlaneBinaries:
    """Paths of the three control-plane programs (plus kubectl) and the versions they report.

    >>> binaries = ensure_binaries(progress=print)  # doctest: +SKIP
    >>> subprocess.run([binaries.kube_apiserver, "--version"])  # doctest: +SKIP
    Kubernetes v1.36.3
    """

    kube_apiserver: Path
    kube_controller_manager: Path
    etcd: Path
    kubernetes_version: str
    etcd_version: str
    #: Where they came from: the KUBEBUILDER_ASSETS folder, an earlier build in the cache, or a build now.
    source: Literal["KUBEBUILDER_ASSETS", "cache", "build"]
    #: kubectl of the same release (cache/build), else the KUBEBUILDER_ASSETS folder's, else the one on PATH;
    #: None only when a KUBEBUILDER_ASSETS folder has none and PATH has none either.
    kubectl: Path | None = None

    def require_kubectl(self) -> Path:
        """The kubectl to run, or BinariesError saying how to get one."""
        if self.kubectl is None:
            raise BinariesError(
                f"no kubectl: {ASSETS_ENV}={self.directory} has none and none is on PATH; put kubectl in that "
                f"folder (setup-envtest downloads one) or unset {ASSETS_ENV} to build a matching one into the cache"
            )
        return self.kubectl

    @property
    def directory(self) -> Path:
        """The folder holding the three programs (usable as KUBEBUILDER_ASSETS for envtest)."""
        return self.kube_apiserver.parent


def ensure_binaries(progress: Callable[[str], None] | None = None) -> ControlPlaneBinaries:
    """Return usable control-plane binaries, building them (minutes, once per version) when needed.

    ``progress`` receives human-readable status lines while a build runs. Raises BinariesError when
    KUBEBUILDER_ASSETS names an incomplete folder, or when a build is needed and Go is missing or fails.

    >>> binaries = ensure_binaries()  # doctest: +SKIP
    >>> binaries.kubernetes_version  # doctest: +SKIP
    'v1.36.3'
    """
    report = progress or (lambda _message: None)
    assets = os.environ.get(ASSETS_ENV)
    if assets:
        return binaries_from_folder(Path(assets), progress=report)
    root = cache_root()
    bin_dir = root / "bin" / KUBERNETES_VERSION
    cached = _cached(bin_dir)
    if cached is not None:
        return cached
    # Look for Go before taking the lock or creating anything, so a machine without Go fails fast and clean.
    toolchain = go_build.find_go(root)
    with exclusive(root / "bin" / f"{KUBERNETES_VERSION}.lock"):
        # Another process may have finished the same build while this one waited for the lock.
        cached = _cached(bin_dir)
        if cached is not None:
            return cached
        _build_into(bin_dir, toolchain, root / "work", report)
    built = _cached(bin_dir)
    if built is None:  # pragma: no cover - _build_into writes exactly what _cached checks
        raise BinariesError(f"the build finished but {bin_dir} is incomplete; delete it and try again")
    return dataclasses.replace(built, source="build")


def binaries_from_folder(folder: Path, progress: Callable[[str], None] | None = None) -> ControlPlaneBinaries:
    """Use the three programs in ``folder`` (an envtest KUBEBUILDER_ASSETS folder), asking their versions.

    kubectl is taken from the folder too; a folder without one falls back to kubectl on PATH, and
    ``progress`` is told so, because its version may differ from the apiserver's.
    """
    if not folder.is_dir():
        raise BinariesError(f"{ASSETS_ENV}={folder} is not a folder; unset it to build the binaries instead")
    missing = [name for name in PROGRAMS if not _is_executable(folder / name)]
    if missing:
        # controller-runtime's setup-envtest downloads kube-apiserver, etcd and kubectl only.
        envtest_note = (
            "; envtest folders from setup-envtest have no kube-controller-manager"
            if missing == [KUBE_CONTROLLER_MANAGER]
            else ""
        )
        raise BinariesError(
            f"{ASSETS_ENV}={folder} lacks the executable(s) {', '.join(missing)} "
            f"(it needs {', '.join(PROGRAMS)}); add them, or unset {ASSETS_ENV} to build them into the cache"
            f"{envtest_note}"
        )
    kubectl: Path | None = folder / KUBECTL
    if not _is_executable(folder / KUBECTL):
        on_path = shutil.which(KUBECTL)
        kubectl = Path(on_path) if on_path else None
        (progress or (lambda _message: None))(
            f"{ASSETS_ENV}={folder} has no kubectl; "
            + (f"using {kubectl} from PATH (its version may differ)" if kubectl else "none on PATH either")
        )
    return ControlPlaneBinaries(
        kube_apiserver=folder / KUBE_APISERVER,
        kube_controller_manager=folder / KUBE_CONTROLLER_MANAGER,
        etcd=folder / ETCD,
        kubernetes_version=reported_version(folder / KUBE_APISERVER),
        etcd_version=reported_version(folder / ETCD),
        source="KUBEBUILDER_ASSETS",
        kubectl=kubectl,
    )


def reported_version(program: Path) -> str:
    """The version a control-plane program prints for ``--version``, as ``vX.Y.Z``.

    kube-apiserver prints ``Kubernetes v1.36.3``; etcd prints ``etcd Version: 3.6.16`` among other lines.
    """
    try:
        completed = subprocess.run([str(program), "--version"], capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise BinariesError(f"cannot run `{program} --version`: {error}") from error
    match = re.search(r"(?:Kubernetes|etcd Version:)\s+v?(\d+\.\d+\.\d+\S*)", completed.stdout)
    if completed.returncode != 0 or match is None:
        raise BinariesError(
            f"`{program} --version` did not print a Kubernetes or etcd version "
            f"(exit {completed.returncode}): {(completed.stdout + completed.stderr).strip()[:300]!r}"
        )
    return f"v{match.group(1)}"


def _cached(bin_dir: Path) -> ControlPlaneBinaries | None:
    """The cache entry if complete and of the wanted versions; the manifest is written last, as a seal."""
    manifest = read_manifest(bin_dir, _MANIFEST)
    if manifest is None or manifest.get("kubernetes") != KUBERNETES_VERSION or manifest.get("etcd") != ETCD_VERSION:
        return None
    # Entries built before kubectl joined the cache lack it (and the "programs" key): rebuilt once.
    if manifest.get("programs") != list(CACHED_PROGRAMS):
        return None
    if not all(_is_executable(bin_dir / name) for name in CACHED_PROGRAMS):
        return None
    return ControlPlaneBinaries(
        kube_apiserver=bin_dir / KUBE_APISERVER,
        kube_controller_manager=bin_dir / KUBE_CONTROLLER_MANAGER,
        etcd=bin_dir / ETCD,
        kubernetes_version=KUBERNETES_VERSION,
        etcd_version=ETCD_VERSION,
        source="cache",
        kubectl=bin_dir / KUBECTL,
    )


def _build_into(
    bin_dir: Path, toolchain: go_build.GoToolchain, work_root: Path, progress: Callable[[str], None]
) -> None:
    started = datetime.now(UTC)
    progress(
        f"building Kubernetes {KUBERNETES_VERSION} and etcd {ETCD_VERSION} with {toolchain.version} into "
        f"{bin_dir} (set {ASSETS_ENV} to use prebuilt ones)"
    )

    def build(staging: Path) -> None:
        go_build.build_kubernetes(toolchain, work_root, KUBERNETES_VERSION, staging, progress)
        go_build.build_etcd(toolchain, work_root, ETCD_VERSION, staging, progress)

    manifest = {
        "programs": list(CACHED_PROGRAMS),
        "kubernetes": KUBERNETES_VERSION,
        "etcd": ETCD_VERSION,
        "go": toolchain.version,
        "built_at": started.isoformat(timespec="seconds"),
    }
    build_entry(bin_dir, _MANIFEST, manifest, build)
    elapsed = int((datetime.now(UTC) - started).total_seconds())
    progress(f"built {', '.join(CACHED_PROGRAMS)} in {elapsed // 60}m{elapsed % 60:02d}s; cached in {bin_dir}")
