"""Builds kube-apiserver, kube-controller-manager, kubectl, etcd (and helm) with ``go build`` from the Go module
proxy.

Kubernetes publishes no binaries to any package registry and Debian's etcd is too old, so the local control
plane is compiled from source: each program gets a throwaway Go module in the kubeasset cache that requires
the program's module, and the build's module and compile caches live under that cache too, so a fresh
machine (or CI) warms exactly one folder.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from kubeasset.errors import BinariesError

Progress = Callable[[str], None]

#: How often (seconds) a long-running go command reports progress.
PROGRESS_INTERVAL = 15.0

_INSTALL_HINT = (
    "install Go (https://go.dev/dl, 1.21 or newer; Go fetches the exact toolchain Kubernetes needs) and put "
    "`go` on PATH, or set KUBEBUILDER_ASSETS to a folder holding kube-apiserver, kube-controller-manager and "
    "etcd"
)


@dataclass(frozen=True)
class GoToolchain:
    """A ``go`` executable plus the environment that keeps every download and compile under the cache."""

    go: Path
    env: dict[str, str]
    version: str


def find_go(cache_root: Path) -> GoToolchain:
    """Locate ``go`` on PATH and prepare an environment rooted at ``cache_root``; BinariesError if absent."""
    found = shutil.which("go")
    if found is None:
        raise BinariesError(
            "cannot build kube-apiserver, kube-controller-manager, etcd and kubectl: `go` is not on PATH; "
            + _INSTALL_HINT
        )
    go = Path(found)
    go_root = cache_root / "go"
    env = dict(os.environ)
    env.update(
        {
            "GOPATH": str(go_root),
            "GOMODCACHE": str(go_root / "pkg" / "mod"),
            "GOCACHE": str(go_root / "build-cache"),
            # -mod=mod lets the throwaway modules record their requirements; -modcacherw keeps the module
            # cache deletable with a plain `rm -rf` (Go makes it read-only by default).
            "GOFLAGS": "-mod=mod -modcacherw",
            # Static binaries: no C toolchain needed, and they run on any Linux of the same architecture.
            "CGO_ENABLED": "0",
            # A go.work in a parent folder of the cache must not take part in these builds.
            "GOWORK": "off",
        }
    )
    try:
        completed = subprocess.run(
            [str(go), "env", "GOVERSION"], env=env, capture_output=True, text=True, check=False, timeout=60
        )
    except OSError as error:
        raise BinariesError(f"cannot run {go}: {error}; " + _INSTALL_HINT) from error
    if completed.returncode != 0:
        raise BinariesError(
            f"`{go} env GOVERSION` failed (exit {completed.returncode}): {completed.stderr.strip()}; " + _INSTALL_HINT
        )
    return GoToolchain(go=go, env=env, version=completed.stdout.strip())


def staging_replacements(kubernetes_go_mod: str, kubernetes_version: str) -> dict[str, str]:
    """Map each staging module of a k8s.io/kubernetes release to its published version.

    k8s.io/kubernetes requires its staging modules (k8s.io/api, k8s.io/client-go, ...) at v0.0.0 and
    replaces them with ./staging/src/...; a module that depends on k8s.io/kubernetes must replace them with
    the published tags instead, which are v0.<minor>.<patch> for release v1.<minor>.<patch>. The list is read
    from the release's own go.mod because it changes between minor versions.

    >>> staging_replacements("replace k8s.io/api => ./staging/src/k8s.io/api", "v1.36.3")
    {'k8s.io/api': 'v0.36.3'}
    """
    match = re.fullmatch(r"v1\.(\d+\.\d+)", kubernetes_version)
    if match is None:
        raise BinariesError(f"unexpected Kubernetes version {kubernetes_version!r}: expected v1.<minor>.<patch>")
    published = f"v0.{match.group(1)}"
    staged = re.findall(r"^\s*(?:replace\s+)?(\S+)\s+=>\s+\./staging/src/\S+\s*$", kubernetes_go_mod, re.MULTILINE)
    return {module: published for module in staged}


def kubernetes_ldflags(kubernetes_version: str, build_date: str) -> str:
    """The -ldflags that make ``--version`` (and the apiserver's own version checks) see the real release.

    Mirrors hack/lib/version.sh of Kubernetes: the same variables in client-go and component-base.
    """
    match = re.fullmatch(r"v(\d+)\.(\d+)\.\d+", kubernetes_version)
    if match is None:
        raise BinariesError(f"unexpected Kubernetes version {kubernetes_version!r}: expected v1.<minor>.<patch>")
    values = {
        "gitVersion": kubernetes_version,
        "gitMajor": match.group(1),
        "gitMinor": match.group(2),
        "gitTreeState": "clean",
        "buildDate": build_date,
    }
    flags = ["-s", "-w"]
    for package in ("k8s.io/client-go/pkg/version", "k8s.io/component-base/version"):
        flags.extend(f"-X {package}.{key}={value}" for key, value in values.items())
    return " ".join(flags)


def build_kubernetes(toolchain: GoToolchain, work_root: Path, version: str, out_dir: Path, progress: Progress) -> None:
    """Build kube-apiserver, kube-controller-manager and kubectl of release ``version`` into ``out_dir``."""
    info = _download(toolchain, work_root, "k8s.io/kubernetes", version, progress)
    replacements = staging_replacements(Path(info["GoMod"]).read_text(encoding="utf-8"), version)
    if not replacements:
        raise BinariesError(
            f"k8s.io/kubernetes@{version}'s go.mod names no ./staging/src replacements; "
            "this release layout is not supported"
        )
    module_dir = work_root / f"kubernetes-{version}"
    go_mod = [
        "module kubeasset.local/build/kubernetes",
        "",
        f"go {_go_directive(Path(info['GoMod']).read_text(encoding='utf-8'))}",
        "",
        f"require k8s.io/kubernetes {version}",
        "",
        *(f"replace {module} => {module} {published}" for module, published in sorted(replacements.items())),
    ]
    _write_module(module_dir, go_mod)
    # One `go build` for all three: they share most packages, and kubectl gets the same version stamps.
    packages = [
        "k8s.io/kubernetes/cmd/kube-apiserver",
        "k8s.io/kubernetes/cmd/kube-controller-manager",
        "k8s.io/kubernetes/cmd/kubectl",
    ]
    ldflags = kubernetes_ldflags(version, _release_time(info))
    what = f"kube-apiserver, kube-controller-manager and kubectl {version}"
    # A trailing separator makes `go build -o` write one binary per main package into the folder.
    _build(toolchain, module_dir, packages, ldflags, f"{out_dir}{os.sep}", what, progress)


def build_etcd(toolchain: GoToolchain, work_root: Path, version: str, out_dir: Path, progress: Progress) -> None:
    """Build etcd ``version`` (the main package at the root of go.etcd.io/etcd/server/v3) into ``out_dir``."""
    # etcd's version number is a constant in its source, so --version is right without -X flags; its Git SHA
    # is only known to etcd's own build script, and etcd then says "Not provided" rather than something false.
    build_main_package(
        toolchain,
        work_root,
        module="go.etcd.io/etcd/server/v3",
        version=version,
        package="go.etcd.io/etcd/server/v3",
        ldflags="-s -w",
        output=out_dir / "etcd",
        progress=progress,
        name="etcd",
    )


def build_main_package(
    toolchain: GoToolchain,
    work_root: Path,
    *,
    module: str,
    version: str,
    package: str,
    ldflags: str,
    output: Path,
    progress: Progress,
    name: str,
) -> None:
    """Build one main ``package`` of ``module@version`` into the file ``output``, in a throwaway module
    ``work_root/<name>-<version>`` that requires it (so the module's own go.mod decides the dependencies)."""
    info = _download(toolchain, work_root, module, version, progress)
    module_dir = work_root / f"{name}-{version}"
    go_mod = [
        f"module kubeasset.local/build/{name}",
        "",
        f"go {_go_directive(Path(info['GoMod']).read_text(encoding='utf-8'))}",
        "",
        f"require {module} {version}",
    ]
    _write_module(module_dir, go_mod)
    _build(toolchain, module_dir, [package], ldflags, str(output), f"{name} {version}", progress)


def build_program(
    toolchain: GoToolchain,
    module_dir: Path,
    *,
    go_mod: Sequence[str],
    sources: dict[str, str],
    output: Path,
    progress: Progress,
    name: str,
) -> None:
    """Build a small main package of kubeasset's own (``sources``: file name -> Go text) in ``module_dir``.

    ``go mod tidy`` resolves its requirements (the versions named in ``go_mod`` and what they need) from
    the module proxy, like the throwaway modules above; used for test helpers such as the kstatus probe.
    """
    _write_module(module_dir, go_mod)
    for file_name, text in sources.items():
        (module_dir / file_name).write_text(text, encoding="utf-8")
    _run_go(toolchain, ["mod", "tidy"], module_dir, module_dir / "go.log", name, progress)
    _build(toolchain, module_dir, ["."], "-s -w", str(output), name, progress)


def _download(toolchain: GoToolchain, work_root: Path, module: str, version: str, progress: Progress) -> dict[str, str]:
    progress(f"fetching {module}@{version} from the Go module proxy")
    work_root.mkdir(parents=True, exist_ok=True)
    output = _run_go(
        toolchain,
        ["mod", "download", "-json", f"{module}@{version}"],
        work_root,
        work_root / "download.log",
        f"{module}@{version}",
        progress,
        capture=True,
    )
    info: dict[str, str] = json.loads(output)
    if "Error" in info:
        raise BinariesError(f"cannot download {module}@{version}: {info['Error']}")
    return info


def _go_directive(go_mod: str) -> str:
    match = re.search(r"^go\s+(\S+)\s*$", go_mod, re.MULTILINE)
    return match.group(1) if match else "1.21"


def _release_time(info: dict[str, str]) -> str:
    """The release's tag time from the proxy: a reproducible buildDate instead of 'now'."""
    raw = json.loads(Path(info["Info"]).read_text(encoding="utf-8")).get("Time", "1970-01-01T00:00:00Z")
    return str(raw).split(".")[0].rstrip("Z") + "Z"


def _write_module(module_dir: Path, go_mod: Sequence[str]) -> None:
    module_dir.mkdir(parents=True, exist_ok=True)
    # A stale go.sum from an earlier version is harmless but would grow forever; start clean each build.
    (module_dir / "go.sum").unlink(missing_ok=True)
    (module_dir / "go.mod").write_text("\n".join(go_mod) + "\n", encoding="utf-8")


def _build(
    toolchain: GoToolchain,
    module_dir: Path,
    packages: list[str],
    ldflags: str,
    output: str,
    what: str,
    progress: Progress,
) -> None:
    log_path = module_dir / "go.log"
    progress(f"resolving the modules of {what} (first time: downloads a few hundred MB)")
    listed = _run_go(toolchain, ["list", "-deps", *packages], module_dir, log_path, what, progress, capture=True)
    total = len(listed.split())
    progress(f"compiling {what}: {total} packages, 2 at a time (first time: several minutes)")
    build = ["build", "-v", "-p", "2", "-trimpath", "-ldflags", ldflags, "-o", output, *packages]
    _run_go(toolchain, build, module_dir, log_path, what, progress, total=total)


def _run_go(
    toolchain: GoToolchain,
    args: list[str],
    cwd: Path,
    log_path: Path,
    what: str,
    progress: Progress,
    *,
    capture: bool = False,
    total: int = 0,
) -> str:
    """Run go, stream its stderr into a log and periodic progress lines; return stdout when ``capture``.

    ``go build -v`` prints each package it compiles on stderr, one import path per line, which gives a count
    against ``total``; every go command prints one ``go: downloading`` line per module it fetches.
    """
    started = last_report = time.monotonic()
    compiled = downloaded = 0
    tail: list[str] = []
    # stdout goes to a file, not a pipe: reading stderr to its end while an unread stdout pipe fills up
    # would deadlock on `go list -deps`, which prints thousands of lines.
    with log_path.open("a", encoding="utf-8") as log, tempfile.TemporaryFile("w+", encoding="utf-8") as out:
        log.write(f"$ go {' '.join(args)}\n")
        log.flush()
        process = subprocess.Popen(
            [str(toolchain.go), *args],
            cwd=cwd,
            env=toolchain.env,
            stdout=out if capture else log,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert process.stderr is not None  # guaranteed by stderr=PIPE; narrows the type for mypy
        for line in process.stderr:
            log.write(line)
            tail = [*tail[-19:], line.rstrip()]
            if line.startswith("go: downloading "):
                downloaded += 1
            elif line.strip() and " " not in line.strip() and not line.startswith(("go:", "#")):
                compiled += 1
            now = time.monotonic()
            if now - last_report >= PROGRESS_INTERVAL:
                last_report = now
                progress(_progress_line(what, now - started, downloaded, compiled, total))
        code = process.wait()
        out.seek(0)
        stdout = out.read()
    if code != 0:
        # `go mod download -json` reports its errors in the JSON on stdout, not on stderr.
        details = "\n".join([*tail, *stdout.splitlines()[-10:]])
        raise BinariesError(
            f"`go {args[0]}` for {what} failed (exit {code}); last output:\n{details}\nfull log: {log_path}"
        )
    return stdout


def _progress_line(what: str, elapsed: float, downloaded: int, compiled: int, total: int) -> str:
    minutes, seconds = divmod(int(elapsed), 60)
    parts = [f"{what}: {minutes}m{seconds:02d}s"]
    if downloaded:
        parts.append(f"{downloaded} modules downloaded")
    if compiled:
        parts.append(f"{compiled}/{total} packages compiled" if total else f"{compiled} packages compiled")
    return ", ".join(parts)
