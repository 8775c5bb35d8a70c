"""Fixtures of the fault tests: a control plane of their own, in which a dead node is noticed within seconds,
and ``fault_site``: the controller and a kubelet as killable processes, what every fault test starts from.

Why not the integration tests' session control plane: these tests restart its apiserver, kill kubelets and
leave Nodes behind, and they need kube-controller-manager's node lifecycle and taint eviction controllers
with short grace periods (``support.FAULT_TIMING``), which the other tests must not get. Everything else
(binaries, clients, namespaces, CRDs) is the integration tests' fixtures, re-used by import: in this folder
they resolve ``control_plane`` to the one below.

Every test here gets the ``integration`` marker (it needs the control-plane binaries), so
``-m "not integration"`` skips them too.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from kubeasset.cluster.binaries import ControlPlaneBinaries
from kubeasset.cluster.control_plane import ControlPlane
from tests.faults.support import FAULT_TIMING, ControllerProcess, FaultSite, KubeletProcess, delete_node

# Re-used fixtures (binaries, clients, namespaces, CRDs): defined once, for tests/integration.
from tests.integration.conftest import (  # noqa: F401
    api_client,
    binaries,
    crds,
    kubeconfig,
    kubectl,
    namespace,
)

_HERE = Path(__file__).parent


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def control_plane(binaries: ControlPlaneBinaries, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:  # noqa: F811
    """etcd + kube-apiserver + kube-controller-manager with the node-failure controllers, for tests/faults."""
    with ControlPlane(binaries, tmp_path_factory.mktemp("fault-control-plane"), node_failure=FAULT_TIMING) as plane:
        yield plane


@pytest.fixture
def fault_site(
    request: pytest.FixtureRequest,
    api_client: client.ApiClient,  # noqa: F811
    kubeconfig: Path,  # noqa: F811
    crds: list[dict[str, Any]],  # noqa: F811
    namespace: str,  # noqa: F811
    tmp_path: Path,
) -> Iterator[FaultSite]:
    """A KubeletProcess on the test module's own ``NODE`` (one node name per module) and a ControllerProcess
    for the test's namespace, logs in ``tmp_path``; both stopped afterwards (whatever the test killed) and
    the Node deleted. A failing test's report ends with the tail of both logs."""
    node = getattr(request.module, "NODE", None)
    if not isinstance(node, str):
        raise TypeError(f"{request.module.__name__} needs NODE, the name of its own node, to use fault_site")
    with ExitStack() as cleanup:  # in reverse: the controller stops, then the kubelet, then its Node goes
        cleanup.callback(delete_node, api_client, node)
        kubelet = KubeletProcess(kubeconfig, tmp_path / "kubelet", node, tmp_path / "kubelet.log")
        cleanup.callback(kubelet.stop)
        controller = ControllerProcess(kubeconfig, namespace, tmp_path / "controller.log")
        cleanup.callback(controller.stop)
        custom = client.CustomObjectsApi(api_client)
        yield FaultSite(api_client, custom, namespace, node, tmp_path, kubelet, controller)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    # The processes' logs explain most failures: add them to the report while both still run.
    report = yield
    site = getattr(item, "funcargs", {}).get("fault_site")
    if report.failed and isinstance(site, FaultSite):
        report.sections.extend(site.log_tails())
    return report
