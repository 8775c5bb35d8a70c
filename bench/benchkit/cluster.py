"""A throwaway cluster for one benchmark: the local control plane in a temporary folder (binaries from
KUBEBUILDER_ASSETS or kubeasset's cache, as the integration tests get them), the CRDs, optionally the
local kubelet, and admin clients; everything stops on exit."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from kubernetes import client
from kubernetes import config as kube_config

from benchkit.controller_process import ControllerProcess
from kubeasset.cluster.binaries import ensure_binaries
from kubeasset.cluster.control_plane import ControlPlane
from kubeasset.cluster.kubelet import LocalKubelet

REPOSITORY = Path(__file__).resolve().parents[2]
CRD_DIR = REPOSITORY / "crds"
#: The benchmarks' own node name: Pods pinned to it run on this kubelet, never on a test's.
NODE = "kubeasset-bench"
#: A node nobody plays: Pods pinned to it stay Pending (launch benchmarks need no kubelet).
NOWHERE = "kubeasset-bench-nowhere"


def wait_for(condition: Callable[[], bool], what: str, timeout: float, poll: float = 0.25) -> float:
    """Wait until ``condition()`` holds; returns the seconds it took, RuntimeError naming ``what`` after
    ``timeout``."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"{what} did not happen within {timeout:.0f}s")
        time.sleep(poll)
    return time.monotonic() - started


class BenchCluster:
    """Control plane + CRDs (+ local kubelet on node NODE when ``kubelet``); ``keep`` leaves the folder.

    Example::

        with BenchCluster(kubelet=True) as cluster:
            namespace = cluster.new_namespace("launch")
    """

    def __init__(self, *, kubelet: bool = False, keep: bool = False) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="kubeasset-bench-"))
        self.keep = keep
        self.plane = ControlPlane(ensure_binaries(progress=print), self.folder / "control-plane", progress=print)
        self._with_kubelet = kubelet
        self.kubelet: LocalKubelet | None = None
        self.api_client: client.ApiClient | None = None

    @property
    def kubeconfig(self) -> Path:
        return self.plane.admin.kubeconfig

    @property
    def api(self) -> client.ApiClient:
        """The admin client; RuntimeError before start()."""
        if self.api_client is None:
            raise RuntimeError("the bench cluster is not started")
        return self.api_client

    def start(self) -> BenchCluster:
        self.plane.start()
        self.api_client = kube_config.new_client_from_config(config_file=str(self.kubeconfig))
        # More connections than the default 4: the load generators create from several threads.
        self.api_client.rest_client.pool_manager.connection_pool_kw["maxsize"] = 16
        self._apply_crds()
        if self._with_kubelet:
            self.kubelet = LocalKubelet(self.kubeconfig, self.folder / "kubelet", NODE, restart_backoff_seconds=0.5)
            self.kubelet.__enter__()
        return self

    def stop(self) -> None:
        if self.kubelet is not None:
            self.kubelet.__exit__(None, None, None)
            self.kubelet = None
        self.plane.stop()
        if not self.keep:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> BenchCluster:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if error is not None and not isinstance(error, KeyboardInterrupt):
            self.keep = True  # the logs explain the failure
            print(f"kept {self.folder} (logs: control-plane/logs, controller*.log, kubelet)")
        self.stop()

    def kubectl(self, *args: str) -> str:
        program = self.plane.binaries.require_kubectl()
        done = subprocess.run(
            [str(program), f"--kubeconfig={self.kubeconfig}", *args], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} failed: {done.stderr}")
        return done.stdout

    def new_namespace(self, prefix: str) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:6]}"
        client.CoreV1Api(self.api_client).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
        # Pods are refused until the namespace's default ServiceAccount exists.
        wait_for(
            lambda: bool(client.CoreV1Api(self.api_client).list_namespaced_service_account(name).items),
            f"the default ServiceAccount of {name}",
            60,
        )
        return name

    def _apply_crds(self) -> None:
        self.kubectl("apply", "-f", str(CRD_DIR))
        count = len(list(CRD_DIR.glob("*.yaml")))
        wait_for(
            lambda: self.kubectl("api-resources", "--api-group=kubeasset.dev", "-o", "name").count("\n") >= count,
            "the kubeasset.dev resources in discovery",
            60,
        )


@dataclass(frozen=True)
class ControlledCluster:
    """What :func:`controlled_cluster` yields: the cluster, its admin client, the leading controller and a
    fresh namespace."""

    cluster: BenchCluster
    api: client.ApiClient
    controller: ControllerProcess
    namespace: str


@contextmanager
def controlled_cluster(namespace_prefix: str, extra_env: dict[str, str] | None = None) -> Iterator[ControlledCluster]:
    """A BenchCluster with the local kubelet, the controller as the chart runs it (``extra_env`` over the
    chart's environment; log in the cluster's folder as controller.log) holding its Lease, and a new
    namespace: what every benchmark of one controller starts from. The controller stops, then the cluster.

    Example::

        with controlled_cluster("launch") as bench:
            trivial_setup(bench.api, bench.namespace, bench.cluster.folder / "code")
    """
    with (
        BenchCluster(kubelet=True) as cluster,
        ControllerProcess(cluster.kubeconfig, cluster.folder / "controller.log", extra_env) as controller,
    ):
        controller.wait_until_leading()
        yield ControlledCluster(cluster, cluster.api, controller, cluster.new_namespace(namespace_prefix))
