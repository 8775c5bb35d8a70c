"""Shared set-up of the integration tests: the binaries (built once, before any test and outside any test
timeout), one control plane for the whole session, clients for it, fresh namespaces, and the CRDs.

Every test under tests/integration gets the ``integration`` marker, so ``-m "not integration"`` skips them.
"""

from __future__ import annotations

import re
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest
import yaml
from kubernetes import client
from kubernetes import config as kube_config
from kubernetes.client.rest import ApiException

from kubeasset.cluster.binaries import ControlPlaneBinaries, ensure_binaries
from kubeasset.cluster.control_plane import ControlPlane
from kubeasset.cluster.helm_binary import HelmBinary, ensure_helm
from kubeasset.cluster.kstatus_binary import ensure_kstatus_probe
from kubeasset.errors import BinariesError

_HERE = Path(__file__).parent
REPOSITORY = _HERE.parent.parent
CRD_DIR = REPOSITORY / "crds"

#: The outcome of the one ensure_binaries() (and ensure_helm()) call made before the tests run.
_ENSURED: dict[str, ControlPlaneBinaries | HelmBinary | Path | BinariesError] = {}


def _is_integration(item: pytest.Item) -> bool:
    return _HERE in Path(str(item.path)).parents


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # tryfirst: the marker must be there before `-m` deselects anything.
    for item in items:
        if _is_integration(item):
            item.add_marker(pytest.mark.integration)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Provide the binaries once, before the first test: a cold build takes minutes (about 9 on 2 cores)
    and must neither count against a test's timeout nor stay silent."""
    if session.config.option.collectonly or not any(_is_integration(item) for item in session.items):
        return
    capture = session.config.pluginmanager.getplugin("capturemanager")
    writer = session.config.get_terminal_writer()

    def progress(message: str) -> None:
        # Shown live even under output capture: a build that seems hung gets killed by impatient people.
        if capture is not None:
            with capture.global_and_fixture_disabled():
                writer.line(f"[kubeasset binaries] {message}")
        else:
            writer.line(f"[kubeasset binaries] {message}")

    try:
        _ENSURED["binaries"] = ensure_binaries(progress=progress)
    except BinariesError as error:
        # Reported by every test that needs them, which keeps the tests that do not (e.g. the error
        # cases in test_binaries.py) running.
        progress(f"cannot provide the binaries: {error}")
        _ENSURED["binaries"] = error
    # helm (for the chart's tests) is built the same way, also minutes when cold; only when a test needs it.
    if any(item.get_closest_marker("helm") for item in session.items):
        try:
            _ENSURED["helm"] = ensure_helm(progress=progress)
        except BinariesError as error:
            progress(f"cannot provide helm: {error}")
            _ENSURED["helm"] = error
    # kstatus-probe (Flux's kstatus on kubeasset's objects, tests/integration/gitops) likewise, when marked.
    if any(item.get_closest_marker("kstatus") for item in session.items):
        try:
            _ENSURED["kstatus"] = ensure_kstatus_probe(progress=progress)
        except BinariesError as error:
            progress(f"cannot provide kstatus-probe: {error}")
            _ENSURED["kstatus"] = error


@pytest.fixture(scope="session")
def binaries() -> ControlPlaneBinaries:
    """The control-plane programs and kubectl, as ensured before the session started."""
    found = _ENSURED.get("binaries")
    if found is None:  # collected in an unusual way (e.g. from another rootdir): ask now
        found = ensure_binaries()
    if isinstance(found, BinariesError):
        pytest.fail(f"the control-plane binaries are not available: {found}", pytrace=False)
    assert isinstance(found, ControlPlaneBinaries)
    return found


@pytest.fixture(scope="session")
def helm_binary() -> HelmBinary:
    """helm, as ensured before the session started (tests using it carry the ``helm`` marker)."""
    found = _ENSURED.get("helm")
    if found is None:  # a test without the marker, or collected in an unusual way: ask now
        found = ensure_helm()
    if isinstance(found, BinariesError):
        pytest.fail(f"helm is not available: {found}", pytrace=False)
    assert isinstance(found, HelmBinary)
    return found


@pytest.fixture(scope="session")
def kstatus_probe() -> Path:
    """The kstatus-probe program (tests using it carry the ``kstatus`` marker)."""
    found = _ENSURED.get("kstatus")
    if found is None:  # a test without the marker: ask now
        found = ensure_kstatus_probe()
    if isinstance(found, BinariesError):
        pytest.fail(f"kstatus-probe is not available: {found}", pytrace=False)
    assert isinstance(found, Path)
    return found


@pytest.fixture(scope="session")
def control_plane(binaries: ControlPlaneBinaries, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """One etcd + kube-apiserver + kube-controller-manager for the whole session."""
    with ControlPlane(binaries, tmp_path_factory.mktemp("control-plane")) as plane:
        yield plane


@pytest.fixture(scope="session")
def kubeconfig(control_plane: ControlPlane) -> Path:
    """The session control plane's admin kubeconfig (user in group system:masters)."""
    return control_plane.admin.kubeconfig


@pytest.fixture(scope="session")
def api_client(kubeconfig: Path) -> client.ApiClient:
    """A kubernetes ApiClient acting as cluster admin."""
    return kube_config.new_client_from_config(config_file=str(kubeconfig))


class Kubectl(Protocol):
    """Runs the version-matched kubectl against the session control plane."""

    def __call__(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60.0
    ) -> subprocess.CompletedProcess[str]: ...


@pytest.fixture(scope="session")
def kubectl(binaries: ControlPlaneBinaries, kubeconfig: Path) -> Kubectl:
    """``kubectl("get", "ns")``: kubectl of the apiserver's release with --kubeconfig set; text output.

    With ``check=True`` (the default) a non-zero exit fails the test and shows kubectl's stderr.
    """
    program = binaries.kubectl
    if program is None:
        pytest.fail("no kubectl: the KUBEBUILDER_ASSETS folder has none and none is on PATH", pytrace=False)

    def run(
        *args: str, input: str | None = None, check: bool = True, timeout: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        argv = [str(program), f"--kubeconfig={kubeconfig}", *args]
        completed = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout, check=False)
        if check and completed.returncode != 0:
            pytest.fail(
                f"`kubectl {' '.join(args)}` exited {completed.returncode}:\n{completed.stderr}{completed.stdout}",
                pytrace=False,
            )
        return completed

    return run


@pytest.fixture
def namespace(api_client: client.ApiClient, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace named after the test, deleted (without waiting for it to go) afterwards."""
    readable = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    name = f"t-{readable}-{uuid.uuid4().hex[:6]}"
    core = client.CoreV1Api(api_client)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    try:
        core.delete_namespace(name)
    except ApiException as error:
        if error.status != 404:  # a test may delete its namespace itself
            raise


def eventually(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Wait until ``condition()`` holds, or fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout:.0f}s")
        time.sleep(0.25)


def processes_mentioning(folder: Path) -> list[str]:
    """Command lines of live processes that name ``folder`` (every control-plane program does): what
    must be empty once a cluster has stopped."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # not a process, or it ended while listing
        if str(folder) in command:
            found.append(command)
    return found


def crd_documents() -> list[dict[str, Any]]:
    """The generated CRDs in crds/, one per file, sorted by file name."""
    return [yaml.safe_load(path.read_text(encoding="utf-8")) for path in sorted(CRD_DIR.glob("*.yaml"))]


def _established(crd: Any) -> bool:
    conditions = (crd.status.conditions if crd.status else None) or []
    return any(condition.type == "Established" and condition.status == "True" for condition in conditions)


@pytest.fixture(scope="session")
def crds(kubectl: Kubectl, api_client: client.ApiClient) -> list[dict[str, Any]]:
    """Apply every CRD in crds/ once per session and wait until all are Established; returns the documents."""
    documents = crd_documents()
    # Exactly what the README tells people to run.
    kubectl("apply", "-f", str(CRD_DIR))
    extensions = client.ApiextensionsV1Api(api_client)
    for document in documents:
        name = document["metadata"]["name"]
        eventually(
            lambda name=name: _established(extensions.read_custom_resource_definition(name)),
            f"CRD {name} becoming Established",
        )
    # Discovery (what `kubectl get <kind>` and categories use) lags behind Established by a moment.
    eventually(
        lambda: (
            kubectl("api-resources", "--api-group=kubeasset.dev", "-o", "name", check=False).stdout.count("\n")
            >= len(documents)
        ),
        "the kubeasset.dev resources appearing in discovery",
    )
    return documents
