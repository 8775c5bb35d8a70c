"""A real, local Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager) for integration
tests and demos: TLS everywhere, RBAC, the admission plugins of a real cluster, service-account tokens,
garbage collection and namespace deletion, all on free loopback ports and in one folder.

There is no scheduler and no kubelet: Pods are created and stay Pending unless something (the project's
local kubelet stand-in) plays the node. Fault tests can ask for the controllers that notice a dead node
(``node_failure=NodeFailureTiming(...)``) and can restart the apiserver alone (``restart_apiserver()``).
"""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from kubeasset.cluster.binaries import ControlPlaneBinaries
from kubeasset.cluster.kubeconfig import write_kubeconfig
from kubeasset.cluster.pki import CertificateAuthority, CertificateFiles, write_signing_key_pair
from kubeasset.cluster.processes import ManagedProcess, free_loopback_port
from kubeasset.errors import ClusterError

#: kube-controller-manager's controllers that matter without nodes: ownerReference garbage collection,
#: namespace deletion, the `default` ServiceAccount of every namespace, its tokens, and the
#: kube-root-ca.crt ConfigMap that projected service-account volumes mount; and Deployments (their
#: ReplicaSets and Pods), so that a Helm chart's controller Deployment really runs on the local kubelet.
#: Names as of Kubernetes v1.36.
DEFAULT_CONTROLLERS = (
    "garbage-collector-controller",
    "namespace-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "root-ca-certificate-publisher-controller",
    "deployment-controller",
    "replicaset-controller",
)

#: The controllers that notice a dead node: node-lifecycle-controller marks a Node whose Lease stopped being
#: renewed Ready=Unknown, its Pods Ready=False, and taints it NoExecute; taint-eviction-controller then evicts
#: its Pods (DisruptionTarget condition, DeletionByTaintManager) once their toleration of the taint runs out.
#: Not in DEFAULT_CONTROLLERS: a local cluster has one node, and a cluster whose every node is down is a
#: "full disruption" in which Kubernetes evicts nothing anyway, while stale Nodes of stopped local kubelets
#: would only collect taints.
NODE_FAILURE_CONTROLLERS = ("node-lifecycle-controller", "taint-eviction-controller")

#: Admission plugins of a production cluster that work without nodes (most are on by default anyway;
#: naming them keeps the behaviour fixed across releases).
ADMISSION_PLUGINS = (
    "NamespaceLifecycle",
    "LimitRanger",
    "ServiceAccount",
    "DefaultStorageClass",
    "DefaultTolerationSeconds",
    "Priority",
    "PodSecurity",
    "ResourceQuota",
    "MutatingAdmissionWebhook",
    "ValidatingAdmissionWebhook",
    "ValidatingAdmissionPolicy",
)

#: The Service network; only the `kubernetes` Service's cluster IP (its first address) is ever used, and
#: only inside the apiserver's serving certificate.
SERVICE_CIDR = "10.0.0.0/24"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
_APISERVER_NAMES = (
    "127.0.0.1",
    "localhost",
    "10.0.0.1",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)


@dataclass(frozen=True)
class NodeFailureTiming:
    """How fast a dead node's Pods are evicted: Kubernetes' defaults (50 s without a heartbeat, then 300 s of
    default toleration) are minutes; fault tests want seconds. The kubelet's heartbeat period must stay well
    below ``monitor_grace_seconds`` or live nodes flap.

    >>> NodeFailureTiming(monitor_grace_seconds=5, toleration_seconds=1).apiserver_args()
    ('--default-not-ready-toleration-seconds=1', '--default-unreachable-toleration-seconds=1')
    """

    monitor_grace_seconds: float = 50.0
    """A Node not heard from for this long becomes Ready=Unknown (``--node-monitor-grace-period``)."""
    toleration_seconds: int = 300
    """The not-ready/unreachable NoExecute toleration every Pod gets by default (DefaultTolerationSeconds)."""
    monitor_period_seconds: float = 1.0
    """How often the node lifecycle controller looks (``--node-monitor-period``; Kubernetes: 5 s)."""

    def controller_manager_args(self) -> tuple[str, ...]:
        return (
            f"--node-monitor-grace-period={self.monitor_grace_seconds:g}s",
            f"--node-startup-grace-period={self.monitor_grace_seconds:g}s",
            f"--node-monitor-period={self.monitor_period_seconds:g}s",
            # A test cluster keeps the Nodes of stopped kubelets: with three of them NotReady the zone would
            # count as "partially disrupted" and (being under --large-cluster-size-threshold) evict nothing.
            # At 1.0 only a zone whose every node is down stops evictions (full disruption), as it should.
            "--unhealthy-zone-threshold=1",
        )

    def apiserver_args(self) -> tuple[str, ...]:
        return (
            f"--default-not-ready-toleration-seconds={self.toleration_seconds}",
            f"--default-unreachable-toleration-seconds={self.toleration_seconds}",
        )


@dataclass(frozen=True)
class AdminCredentials:
    """How a client reaches the apiserver as cluster admin (user in group system:masters)."""

    server: str
    ca_file: Path
    cert_file: Path
    key_file: Path
    kubeconfig: Path


class ControlPlane:
    """etcd + kube-apiserver + kube-controller-manager running from ``folder`` until stopped.

    >>> from kubeasset.cluster.binaries import ensure_binaries
    >>> with ControlPlane(ensure_binaries(), Path("/tmp/cluster")) as plane:  # doctest: +SKIP
    ...     subprocess.run(["kubectl", "--kubeconfig", plane.admin.kubeconfig, "get", "ns"])
    """

    def __init__(
        self,
        binaries: ControlPlaneBinaries,
        folder: Path,
        *,
        controllers: Sequence[str] = DEFAULT_CONTROLLERS,
        extra_apiserver_args: Sequence[str] = (),
        extra_controller_manager_args: Sequence[str] = (),
        node_failure: NodeFailureTiming | None = None,
        startup_timeout: float = 120.0,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.binaries = binaries
        self.folder = folder.resolve()
        self.controllers = tuple(controllers)
        self.extra_apiserver_args = tuple(extra_apiserver_args)
        self.extra_controller_manager_args = tuple(extra_controller_manager_args)
        if node_failure is not None:
            self.controllers += tuple(name for name in NODE_FAILURE_CONTROLLERS if name not in self.controllers)
            self.extra_apiserver_args = node_failure.apiserver_args() + self.extra_apiserver_args
            self.extra_controller_manager_args = (
                node_failure.controller_manager_args() + self.extra_controller_manager_args
            )
        self.startup_timeout = startup_timeout
        self._progress = progress or (lambda _message: None)
        self._processes: list[ManagedProcess] = []
        self._admin: AdminCredentials | None = None

    @property
    def admin(self) -> AdminCredentials:
        """Admin access to the running apiserver; ClusterError before start()."""
        if self._admin is None:
            raise ClusterError("the control plane is not started: call start() or use it as a context manager")
        return self._admin

    @property
    def pids(self) -> dict[str, int]:
        """Process ids (also process-group ids) of the running programs, by name."""
        return {process.name: process.pid for process in self._processes}

    @property
    def log_dir(self) -> Path:
        """Where etcd.log, kube-apiserver.log and kube-controller-manager.log are written."""
        return self.folder / "logs"

    def start(self) -> ControlPlane:
        """Start the three programs and return once the apiserver is ready and controllers run.

        On failure everything already started is stopped and ClusterError carries the failing log's tail.
        """
        if self._processes:
            raise ClusterError(f"the control plane in {self.folder} is already running")
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every program (controllers first, etcd last); safe to call more than once."""
        while self._processes:
            self._processes.pop().stop()

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def restart_apiserver(self, *, kill: bool = False, downtime_seconds: float = 0.0) -> None:
        """Stop kube-apiserver alone and start it again with the same flags, on the same port, over the same
        etcd (so every object and resourceVersion survives); returns once it is ready again.

        ``kill``: SIGKILL instead of a graceful SIGTERM (connections cut mid-request, watches dropped without
        a goodbye); ``downtime_seconds``: how long it stays down before it starts again.

        >>> plane.restart_apiserver(kill=True, downtime_seconds=3)  # doctest: +SKIP
        """
        index = next((i for i, process in enumerate(self._processes) if process.name == "kube-apiserver"), None)
        if index is None:
            raise ClusterError("the control plane is not running: there is no kube-apiserver to restart")
        old = self._processes[index]
        if kill:
            old.kill()
        else:
            old.stop()
        if downtime_seconds > 0:
            time.sleep(downtime_seconds)
        self._progress("restarting kube-apiserver")
        self._processes[index] = ManagedProcess(old.name, old.argv, old.log_file)
        self._wait(
            "kube-apiserver /readyz after its restart",
            lambda: _get(f"{self.admin.server}/readyz", self.admin_ssl_context()) is not None,
            process=self._processes[index],
        )

    def raise_if_exited(self) -> None:
        """ClusterError, with the log's tail, if one of the programs has stopped on its own."""
        for process in self._processes:
            code = process.exit_code()
            if code is not None:
                raise ClusterError(
                    f"{process.name} exited with code {code}; its log ({process.log_file}) ends with:\n"
                    f"{process.log_tail()}"
                )

    def admin_ssl_context(self) -> ssl.SSLContext:
        """An SSL context that trusts the cluster CA and presents the admin client certificate."""
        return _client_context(self.admin.ca_file, CertificateFiles(self.admin.cert_file, self.admin.key_file))

    def _start(self) -> None:
        started = time.monotonic()
        pki = self.folder / "pki"
        ca = CertificateAuthority.create(pki, "kubeasset-local-ca")
        # etcd also dials its own client port (its gRPC gateway) with this certificate, hence client=True.
        etcd_serving = ca.issue(
            "etcd-server", common_name="etcd", hosts=("127.0.0.1", "localhost"), server=True, client=True
        )
        etcd_client = ca.issue("apiserver-etcd-client", common_name="kube-apiserver-etcd-client", client=True)
        apiserver_serving = ca.issue("apiserver", common_name="kube-apiserver", hosts=_APISERVER_NAMES, server=True)
        admin = ca.issue("admin", common_name="kubeasset-admin", organizations=("system:masters",), client=True)
        # The bootstrap RBAC policy binds this user name to the controller manager's role.
        manager = ca.issue("kube-controller-manager", common_name="system:kube-controller-manager", client=True)
        write_signing_key_pair(pki / "sa.key", pki / "sa.pub")
        # The aggregation layer's own CA, as kubeadm sets it up; without it every component that delegates
        # authentication to the apiserver logs a missing requestheader CA bundle forever.
        front_proxy_ca = CertificateAuthority.create(pki / "front-proxy", "kubeasset-front-proxy-ca")
        front_proxy = front_proxy_ca.issue("front-proxy-client", common_name="front-proxy-client", client=True)
        # How the apiserver authenticates to kubelets (logs, exec), as kubeadm's apiserver-kubelet-client.
        kubelet_client = ca.issue(
            "apiserver-kubelet-client",
            common_name="kube-apiserver-kubelet-client",
            organizations=("system:masters",),
            client=True,
        )

        etcd_port, etcd_peer_port, apiserver_port, manager_port = (free_loopback_port() for _ in range(4))
        self._start_etcd(ca.cert_file, etcd_serving, etcd_client, etcd_port, etcd_peer_port)

        server = f"https://127.0.0.1:{apiserver_port}"
        self._start_apiserver(
            ca.cert_file,
            apiserver_serving,
            etcd_client,
            etcd_port,
            apiserver_port,
            front_proxy_ca,
            front_proxy,
            kubelet_client,
        )
        kubeconfig = write_kubeconfig(
            self.folder / "admin.kubeconfig",
            server=server,
            ca_file=ca.cert_file,
            cert_file=admin.cert,
            key_file=admin.key,
        )
        self._admin = AdminCredentials(server, ca.cert_file, admin.cert, admin.key, kubeconfig)
        self._wait(
            "kube-apiserver /readyz",
            lambda: _get(f"{server}/readyz", _client_context(ca.cert_file, admin)) is not None,
        )

        manager_kubeconfig = write_kubeconfig(
            self.folder / "kube-controller-manager.kubeconfig",
            server=server,
            ca_file=ca.cert_file,
            cert_file=manager.cert,
            key_file=manager.key,
        )
        self._start_controller_manager(manager_kubeconfig, ca.cert_file, pki / "sa.key", manager_port)
        self._wait(
            "kube-controller-manager /healthz",
            lambda: _get(f"https://127.0.0.1:{manager_port}/healthz", _unverified_context()) is not None,
        )
        if "serviceaccount-controller" in self.controllers:
            # Pods are rejected by the ServiceAccount admission plugin until `default` exists: wait for it.
            self._wait(
                "the default ServiceAccount",
                lambda: (
                    _get(
                        f"{server}/api/v1/namespaces/default/serviceaccounts/default",
                        self.admin_ssl_context(),
                    )
                    is not None
                ),
            )
        self._progress(f"control plane ready at {server} in {time.monotonic() - started:.1f}s")

    def _start_etcd(
        self, ca_file: Path, serving: CertificateFiles, client: CertificateFiles, port: int, peer_port: int
    ) -> None:
        client_url = f"https://127.0.0.1:{port}"
        peer_url = f"http://127.0.0.1:{peer_port}"  # a single member: no peer ever connects
        self._launch(
            "etcd",
            [
                str(self.binaries.etcd),
                "--name=kubeasset",
                f"--data-dir={self.folder / 'etcd-data'}",
                f"--listen-client-urls={client_url}",
                f"--advertise-client-urls={client_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=kubeasset={peer_url}",
                f"--cert-file={serving.cert}",
                f"--key-file={serving.key}",
                f"--trusted-ca-file={ca_file}",
                "--client-cert-auth",
                # A throwaway cluster: durability across power loss is worth nothing, speed is.
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
        )
        self._wait("etcd /health", lambda: _etcd_healthy(f"{client_url}/health", _client_context(ca_file, client)))

    def _start_apiserver(
        self,
        ca_file: Path,
        serving: CertificateFiles,
        etcd_client: CertificateFiles,
        etcd_port: int,
        port: int,
        front_proxy_ca: CertificateAuthority,
        front_proxy: CertificateFiles,
        kubelet_client: CertificateFiles,
    ) -> None:
        pki = self.folder / "pki"
        self._launch(
            "kube-apiserver",
            [
                str(self.binaries.kube_apiserver),
                f"--etcd-servers=https://127.0.0.1:{etcd_port}",
                f"--etcd-cafile={ca_file}",
                f"--etcd-certfile={etcd_client.cert}",
                f"--etcd-keyfile={etcd_client.key}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={port}",
                f"--tls-cert-file={serving.cert}",
                f"--tls-private-key-file={serving.key}",
                f"--client-ca-file={ca_file}",
                f"--cert-dir={self.folder / 'apiserver-certs'}",
                f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
                f"--service-account-key-file={pki / 'sa.pub'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                # The `kubernetes` Service's Endpoints may not hold a loopback address, and no Pod network
                # exists to reach another one: keep the Service without Endpoints instead of logging errors.
                "--endpoint-reconciler-type=none",
                f"--requestheader-client-ca-file={front_proxy_ca.cert_file}",
                "--requestheader-allowed-names=front-proxy-client",
                "--requestheader-username-headers=X-Remote-User",
                "--requestheader-group-headers=X-Remote-Group",
                "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                f"--proxy-client-cert-file={front_proxy.cert}",
                f"--proxy-client-key-file={front_proxy.key}",
                # kubectl logs/exec: the apiserver dials the node's InternalIP (127.0.0.1 for the local
                # kubelet) with this client certificate; kubelet serving certificates are self-signed.
                f"--kubelet-client-certificate={kubelet_client.cert}",
                f"--kubelet-client-key={kubelet_client.key}",
                "--kubelet-preferred-address-types=InternalIP,Hostname",
                "--authorization-mode=RBAC",
                f"--enable-admission-plugins={','.join(ADMISSION_PLUGINS)}",
                "--allow-privileged=true",
                "--profiling=false",
                *self.extra_apiserver_args,
            ],
        )

    def _start_controller_manager(self, kubeconfig: Path, ca_file: Path, signing_key: Path, port: int) -> None:
        self._launch(
            "kube-controller-manager",
            [
                str(self.binaries.kube_controller_manager),
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={port}",
                f"--cert-dir={self.folder / 'controller-manager-certs'}",
                f"--controllers={','.join(self.controllers)}",
                f"--service-account-private-key-file={signing_key}",
                f"--root-ca-file={ca_file}",
                # Each controller acts as its own ServiceAccount, as in kubeadm clusters, so RBAC is real.
                "--use-service-account-credentials=true",
                "--leader-elect=false",
                "--profiling=false",
                *self.extra_controller_manager_args,
            ],
        )

    def _launch(self, name: str, argv: list[str]) -> None:
        self._progress(f"starting {name}")
        self._processes.append(ManagedProcess(name, argv, self.log_dir / f"{name}.log"))

    def _wait(self, what: str, ready: Callable[[], bool], *, process: ManagedProcess | None = None) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while True:
            try:
                self.raise_if_exited()
            except ClusterError as exited:
                raise ClusterError(f"while waiting for {what}: {exited}") from None
            if ready():
                return
            if time.monotonic() > deadline:
                newest = process or self._processes[-1]
                raise ClusterError(
                    f"{what} not ready after {self.startup_timeout:.0f}s; "
                    f"{newest.name}'s log ({newest.log_file}) ends with:\n{newest.log_tail()}"
                )
            time.sleep(0.2)


def _client_context(ca_file: Path, client: CertificateFiles) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca_file))
    context.load_cert_chain(str(client.cert), str(client.key))
    return context


def _unverified_context() -> ssl.SSLContext:
    # kube-controller-manager serves /healthz with a certificate it generates itself at start; on loopback,
    # only liveness is asked of it, so its identity needs no check.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _get(url: str, context: ssl.SSLContext) -> bytes | None:
    """The body of a 200 answer, or None while the server is not (yet) there or not (yet) ready."""
    try:
        with urllib.request.urlopen(url, context=context, timeout=5) as answer:
            body: bytes = answer.read()
            return body
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        # HTTPError (a 500 or 404 while starting) is a URLError too: all mean "not yet".
        return None


def _etcd_healthy(url: str, context: ssl.SSLContext) -> bool:
    body = _get(url, context)
    if body is None:
        return False
    try:
        return bool(json.loads(body).get("health") == "true")
    except ValueError:
        return False
