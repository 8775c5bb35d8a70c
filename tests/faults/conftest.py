"""Fixtures of the fault tests: a control plane of their own, in which a dead node is noticed within seconds.

Why not the integration tests' session control plane: these tests restart its apiserver, kill kubelets and
leave Nodes behind, and they need kube-controller-manager's node lifecycle and taint eviction controllers
with short grace periods (``support.FAULT_TIMING``), which the other tests must not get. Everything else
(binaries, clients, namespaces, CRDs) is the integration tests' fixtures, re-used by import: in this folder
they resolve ``control_plane`` to the one below.

Every test here gets the ``integration`` marker (it needs the control-plane binaries), so
``-m "not integration"`` skips them too.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kubeasset.cluster.binaries import ControlPlaneBinaries
from kubeasset.cluster.control_plane import ControlPlane
from tests.faults.support import FAULT_TIMING

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
