"""Finds or builds the ``helm`` program that lints and renders the chart in helm/kubeasset, so that CI and a
fresh checkout need no helm installed: like the Kubernetes binaries, it is built once with ``go build`` from
the Go module proxy into the kubeasset cache (``$KUBEASSET_CACHE_DIR`` or ``~/.cache/kubeasset``).

``$HELM`` names an existing helm to use instead; nothing is built then.
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from kubeasset.cluster import go_build
from kubeasset.cluster.cache_entry import build_entry, cache_root, exclusive, is_executable, read_manifest
from kubeasset.errors import BinariesError

#: The Helm release built: the newest stable release on the Go module proxy (Helm 4).
HELM_VERSION = "v4.3.1"
HELM_MODULE = "helm.sh/helm/v4"
#: Names an existing helm executable to use instead of building one.
HELM_ENV = "HELM"
_MANIFEST = "kubeasset-helm.json"


@dataclass(frozen=True)
class HelmBinary:
    """The helm to run and the version it reports.

    >>> helm = ensure_helm(progress=print)  # doctest: +SKIP
    >>> subprocess.run([helm.path, "lint", "helm/kubeasset"])  # doctest: +SKIP
    """

    path: Path
    version: str
    #: Where it came from: $HELM, an earlier build in the cache, or a build now.
    source: Literal["HELM", "cache", "build"]


def ensure_helm(progress: Callable[[str], None] | None = None) -> HelmBinary:
    """Return a usable helm: ``$HELM`` when set, else the cached build, else a build now (minutes, once).

    Raises BinariesError when ``$HELM`` is not an executable helm, or when a build is needed and Go is
    missing or the build fails.
    """
    report = progress or (lambda _message: None)
    configured = os.environ.get(HELM_ENV)
    if configured:
        path = Path(configured).expanduser()
        if not is_executable(path):
            raise BinariesError(f"{HELM_ENV}={configured} is not an executable file; unset it to build helm instead")
        return HelmBinary(path=path, version=reported_helm_version(path), source="HELM")
    root = cache_root()
    entry = root / "bin" / f"helm-{HELM_VERSION}"
    cached = _cached(entry)
    if cached is not None:
        return cached
    toolchain = go_build.find_go(root)
    with exclusive(root / "bin" / f"helm-{HELM_VERSION}.lock"):
        cached = _cached(entry)  # another process may have built it while this one waited
        if cached is not None:
            return cached
        _build_into(entry, toolchain, root / "work", report)
    built = _cached(entry)
    if built is None:  # pragma: no cover - _build_into writes exactly what _cached checks
        raise BinariesError(f"the helm build finished but {entry} is incomplete; delete it and try again")
    return dataclasses.replace(built, source="build")


def reported_helm_version(program: Path) -> str:
    """The version ``helm version`` reports, e.g. ``v4.3.1``."""
    try:
        completed = subprocess.run(
            [str(program), "version", "--template", "{{.Version}}"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise BinariesError(f"cannot run `{program} version`: {error}") from error
    match = re.fullmatch(r"v\d+\.\d+\.\d+\S*", completed.stdout.strip())
    if completed.returncode != 0 or match is None:
        raise BinariesError(
            f"`{program} version` did not print a Helm version (exit {completed.returncode}): "
            f"{(completed.stdout + completed.stderr).strip()[:300]!r}"
        )
    return match.group(0)


def helm_ldflags(version: str) -> str:
    """The -ldflags of Helm's Makefile for a release build, so ``helm version`` names the real release."""
    package = f"{HELM_MODULE}/internal/version"
    return f"-s -w -X {package}.version={version} -X {package}.metadata= -X {package}.gitTreeState=clean"


def _cached(entry: Path) -> HelmBinary | None:
    manifest = read_manifest(entry, _MANIFEST)
    if manifest is None or manifest.get("helm") != HELM_VERSION or not is_executable(entry / "helm"):
        return None
    return HelmBinary(path=entry / "helm", version=HELM_VERSION, source="cache")


def _build_into(entry: Path, toolchain: go_build.GoToolchain, work_root: Path, progress: Callable[[str], None]) -> None:
    started = datetime.now(UTC)
    progress(f"building helm {HELM_VERSION} with {toolchain.version} into {entry} (set {HELM_ENV} to use another)")

    def build(staging: Path) -> None:
        go_build.build_main_package(
            toolchain,
            work_root,
            module=HELM_MODULE,
            version=HELM_VERSION,
            package=f"{HELM_MODULE}/cmd/helm",
            ldflags=helm_ldflags(HELM_VERSION),
            output=staging / "helm",
            progress=progress,
            name="helm",
        )

    manifest = {"helm": HELM_VERSION, "go": toolchain.version, "built_at": started.isoformat(timespec="seconds")}
    build_entry(entry, _MANIFEST, manifest, build)
    elapsed = int((datetime.now(UTC) - started).total_seconds())
    progress(f"built helm in {elapsed // 60}m{elapsed % 60:02d}s; cached in {entry}")
