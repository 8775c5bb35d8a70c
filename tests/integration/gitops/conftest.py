"""Fixtures of the GitOps integration tests: a local kubelet of their own (node ``kubeasset-gitops-tests``, which
no other test module uses) and the controller, cluster-wide, in this process for this package only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubeasset.cluster.control_plane import ControlPlane
from kubeasset.cluster.kubelet import LocalKubelet
from kubeasset.controller.operator import ControllerOptions, ControllerThread
from kubeasset.reconcile.discovery import DiscoveryDefaults

NODE = "kubeasset-gitops-tests"


@pytest.fixture(scope="package")
def gitops_kubelet(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKubelet]:
    folder = tmp_path_factory.mktemp("gitops-kubelet")
    with LocalKubelet(control_plane.admin.kubeconfig, folder, NODE, restart_backoff_seconds=0.5) as running:
        yield running


@pytest.fixture(scope="package")
def gitops_controller(
    kubeconfig: Path, crds: list[dict[str, Any]], gitops_kubelet: LocalKubelet
) -> Iterator[ControllerThread]:
    options = ControllerOptions(kubeconfig=kubeconfig, discovery=DiscoveryDefaults(poll_seconds=1.0, retry_seconds=5.0))
    with ControllerThread(options) as running:
        yield running
