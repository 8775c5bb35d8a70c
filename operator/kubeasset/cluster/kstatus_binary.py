"""Builds ``kstatus-probe``, a tiny Go program that runs the real kstatus library (``status.Compute`` of
sigs.k8s.io/cli-utils, which Flux and kpt use to decide whether an object is Current, InProgress or Failed)
on objects given as JSON, so tests can show what Flux makes of kubeasset's status without Flux.

Like helm, it is built once with ``go build`` from the Go module proxy into the kubeasset cache
(``$KUBEASSET_CACHE_DIR`` or ``~/.cache/kubeasset``); ``$KSTATUS_PROBE`` names an existing build instead.

>>> probe = ensure_kstatus_probe()  # doctest: +SKIP
>>> compute_kstatus(probe, [code_location_object])  # doctest: +SKIP
[KstatusResult(name='shop', status='Current', message='Resource is Ready')]
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubeasset.cluster import go_build
from kubeasset.cluster.cache_entry import build_entry, cache_root, exclusive, is_executable, read_manifest
from kubeasset.errors import BinariesError

#: The cli-utils release whose kstatus is run (the newest on the Go module proxy when this was written).
CLI_UTILS_VERSION = "v0.37.2"
CLI_UTILS_MODULE = "sigs.k8s.io/cli-utils"
#: Names an existing kstatus-probe executable to use instead of building one.
KSTATUS_PROBE_ENV = "KSTATUS_PROBE"
_MANIFEST = "kubeasset-kstatus.json"
#: Bumped when the Go source below changes, so a cached build of older source is rebuilt.
_SOURCE_REVISION = 4

#: Reads a JSON list of objects on stdin, prints a JSON list of {name, status, message}: kstatus's verdicts.
_MAIN_GO = """\
package main

import (
\t"encoding/json"
\t"fmt"
\t"io"
\t"os"

\t"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
\tutiljson "k8s.io/apimachinery/pkg/util/json"
\t"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

func main() {
\t// apimachinery's Unmarshal keeps integers as int64, as the API machinery (and kstatus) expects them.
\tvar objects []interface{}
\tdata, err := io.ReadAll(os.Stdin)
\tif err == nil {
\t\terr = utiljson.Unmarshal(data, &objects)
\t}
\tif err != nil {
\t\tfmt.Fprintln(os.Stderr, "reading a JSON list of objects from stdin:", err)
\t\tos.Exit(2)
\t}
\tresults := make([]map[string]string, 0, len(objects))
\tfor _, object := range objects {
\t\tfields, ok := object.(map[string]interface{})
\t\tif !ok {
\t\t\tfmt.Fprintln(os.Stderr, "every item on stdin must be an object")
\t\t\tos.Exit(2)
\t\t}
\t\tu := &unstructured.Unstructured{Object: fields}
\t\tresult, err := status.Compute(u)
\t\tif err != nil {
\t\t\tfmt.Fprintln(os.Stderr, "computing the status of", u.GetName(), ":", err)
\t\t\tos.Exit(1)
\t\t}
\t\tresults = append(results, map[string]string{
\t\t\t"name": u.GetName(), "status": result.Status.String(), "message": result.Message,
\t\t})
\t}
\tif err := json.NewEncoder(os.Stdout).Encode(results); err != nil {
\t\tfmt.Fprintln(os.Stderr, "writing the results:", err)
\t\tos.Exit(1)
\t}
}
"""


@dataclass(frozen=True)
class KstatusResult:
    """kstatus's verdict on one object: Current, InProgress, Failed, Terminating, NotFound or Unknown."""

    name: str
    status: str
    message: str


def ensure_kstatus_probe(progress: Callable[[str], None] | None = None) -> Path:
    """The kstatus-probe executable: ``$KSTATUS_PROBE``, else the cached build, else a build now (about a
    minute when Go's module cache is cold, seconds after the Kubernetes build).

    Raises BinariesError when ``$KSTATUS_PROBE`` is not executable, or Go is missing or the build fails.
    """
    report = progress or (lambda _message: None)
    configured = os.environ.get(KSTATUS_PROBE_ENV)
    if configured:
        path = Path(configured).expanduser()
        if not is_executable(path):
            raise BinariesError(
                f"{KSTATUS_PROBE_ENV}={configured} is not an executable file; unset it to build the probe instead"
            )
        return path
    root = cache_root()
    entry = root / "bin" / f"kstatus-{CLI_UTILS_VERSION}"
    if _cached(entry):
        return entry / "kstatus-probe"
    toolchain = go_build.find_go(root)
    with exclusive(root / "bin" / f"kstatus-{CLI_UTILS_VERSION}.lock"):
        if not _cached(entry):  # another process may have built it while this one waited
            _build_into(entry, toolchain, root / "work", report)
    if not _cached(entry):  # pragma: no cover - _build_into writes exactly what _cached checks
        raise BinariesError(f"the kstatus-probe build finished but {entry} is incomplete; delete it and try again")
    return entry / "kstatus-probe"


def compute_kstatus(probe: Path, objects: Sequence[Mapping[str, Any]]) -> list[KstatusResult]:
    """kstatus's ``status.Compute`` of each object (as read from the API server), in order."""
    try:
        completed = subprocess.run(
            [str(probe)], input=json.dumps(list(objects)), capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise BinariesError(f"cannot run {probe}: {error}") from error
    if completed.returncode != 0:
        raise BinariesError(f"{probe} failed (exit {completed.returncode}): {completed.stderr.strip()[:500]}")
    return [KstatusResult(**item) for item in json.loads(completed.stdout)]


def _cached(entry: Path) -> bool:
    manifest = read_manifest(entry, _MANIFEST)
    return (
        manifest is not None
        and manifest.get("cli-utils") == CLI_UTILS_VERSION
        and manifest.get("source") == _SOURCE_REVISION
        and is_executable(entry / "kstatus-probe")
    )


def _build_into(entry: Path, toolchain: go_build.GoToolchain, work_root: Path, progress: Callable[[str], None]) -> None:
    started = datetime.now(UTC)
    progress(
        f"building kstatus-probe (cli-utils {CLI_UTILS_VERSION}) into {entry} (set {KSTATUS_PROBE_ENV} to use another)"
    )

    def build(staging: Path) -> None:
        go_build.build_program(
            toolchain,
            work_root / f"kstatus-{CLI_UTILS_VERSION}",
            go_mod=[
                "module kubeasset.local/build/kstatus",
                "",
                "go 1.24",
                "",
                f"require {CLI_UTILS_MODULE} {CLI_UTILS_VERSION}",
            ],
            sources={"main.go": _MAIN_GO},
            output=staging / "kstatus-probe",
            progress=progress,
            name=f"kstatus-probe (cli-utils {CLI_UTILS_VERSION})",
        )

    manifest = {
        "cli-utils": CLI_UTILS_VERSION,
        "source": _SOURCE_REVISION,
        "go": toolchain.version,
        "built_at": started.isoformat(timespec="seconds"),
    }
    build_entry(entry, _MANIFEST, manifest, build)
    elapsed = int((datetime.now(UTC) - started).total_seconds())
    progress(f"built kstatus-probe in {elapsed // 60}m{elapsed % 60:02d}s; cached in {entry}")
