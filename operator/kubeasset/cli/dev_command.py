"""``kubeasset dev [PATH]``: everything needed to see asset pipelines run on Kubernetes, in one command: a
local control plane, a local kubelet running Pods with this Python (PATH on its PYTHONPATH, so the code
location's module imports), kubeasset's CRDs, the controller in this process, and every manifest under
PATH applied; then a live account of discovery, job resolution, runs and Warning Events until Ctrl-C, which
stops everything and leaves no process behind.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any, Final

import click

from kubeasset.cli.dev_view import DevView, Observation

#: Signals that stop ``kubeasset dev`` as cleanly as Ctrl-C.
_STOP_SIGNALS: Final = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
DEV_NODE_NAME: Final = "kubeasset-local"
DEFAULT_KUBECONFIG: Final = Path(".kubeasset/dev/kubeconfig")
_POLL_SECONDS: Final = 1.0
_LOG_FILE: Final = "kubeasset-dev.log"


def default_dev_dir() -> Path:
    """``$XDG_DATA_HOME/kubeasset/dev`` (``~/.local/share/kubeasset/dev``): beside ``cluster start``'s folder,
    so both can run at once."""
    from kubeasset.cluster.data_dir import default_data_dir

    return default_data_dir().parent / "dev"


class _StopRequested(Exception):
    """A stop signal arrived: unwind (controller, kubelet, control plane, in that order) and exit 0."""


def _request_stop(signum: int, _frame: FrameType | None) -> None:
    # A second Ctrl-C while everything stops must not interrupt the cleanup half-way.
    for stop_signal in _STOP_SIGNALS:
        signal.signal(stop_signal, signal.SIG_IGN)
    raise _StopRequested(signal.Signals(signum).name)


def _say(message: str) -> None:
    click.echo(message)


@click.command("dev")
@click.argument("path", default="examples", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--kubeconfig",
    "kubeconfig_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_KUBECONFIG,
    show_default=True,
    help="Where to write the admin kubeconfig (kubectl and `kubeasset launch` use it via KUBECONFIG).",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for etcd's data, certificates, logs and the kubelet's volumes (default: "
    "$XDG_DATA_HOME/kubeasset/dev). Objects and PersistentVolumeClaim contents survive a restart.",
)
def dev(path: Path, kubeconfig_path: Path, data_dir: Path | None) -> int:
    """Run a local cluster with the kubeasset controller, apply the manifests under PATH (default:
    examples), and show what happens until Ctrl-C.

    PATH is put on the Pods' PYTHONPATH, so a CodeLocation's module found there imports (examples/shop).
    Every *.yaml/*.yml below PATH is server-side applied in sorted order (field manager kubeasset-dev).

    Example: kubeasset dev examples   # then, in another terminal: export KUBECONFIG=.kubeasset/dev/kubeconfig
    """
    # Imported here: the cluster, the kubelet and kopf are only needed by this command.
    from kubeasset.cluster.binaries import ensure_binaries
    from kubeasset.cluster.data_dir import ClusterDataDir

    code_dir = (path if path.is_dir() else path.parent).resolve()
    folder = ClusterDataDir(data_dir or default_dev_dir())
    kubeconfig = kubeconfig_path.expanduser().resolve()
    found = ensure_binaries(progress=lambda message: click.echo(message, err=True))
    previous = {stop_signal: signal.getsignal(stop_signal) for stop_signal in _STOP_SIGNALS}
    for stop_signal in _STOP_SIGNALS:
        signal.signal(stop_signal, _request_stop)
    try:
        with folder.claim() as ended:
            for process in ended:
                click.echo(f"ended {process.name} (pid {process.pid}), left running by an earlier start", err=True)
            _run(found, folder, kubeconfig, path.resolve(), code_dir)
    except _StopRequested as stop:
        _say(f"stopped ({stop}): controller, kubelet and control plane are down")
    finally:
        for stop_signal, handler in previous.items():
            signal.signal(stop_signal, handler)
    return 0


def _run(found: Any, folder: Any, kubeconfig: Path, path: Path, code_dir: Path) -> None:
    from kubernetes import config as kube_config

    from kubeasset.cli import dev_apply
    from kubeasset.cluster.control_plane import ControlPlane
    from kubeasset.cluster.kubelet import LocalKubelet
    from kubeasset.controller.operator import ControllerOptions, ControllerThread

    log_file = _log_to_file(folder.folder / "logs" / _LOG_FILE)
    _say(f"starting Kubernetes {found.kubernetes_version} in {folder.folder}")
    with ControlPlane(found, folder.folder, progress=lambda message: click.echo(message, err=True)) as plane:
        folder.record_processes(plane.pids)
        kubeconfig.parent.mkdir(parents=True, exist_ok=True)
        kubeconfig.touch(mode=0o600, exist_ok=True)  # it holds the admin's private key
        shutil.copyfile(plane.admin.kubeconfig, kubeconfig)
        api_client = kube_config.new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
        applier = dev_apply.Applier(api_client, folder.folder / "discovery-cache.json")
        crds = dev_apply.crd_documents()
        failures = dev_apply.apply_all(applier, crds, _quiet_success)
        if failures:
            raise click.ClickException("the kubeasset CRDs could not be installed (see the errors above)")
        dev_apply.wait_established(api_client, [str((crd.body or {})["metadata"]["name"]) for crd in crds])
        environment = {"PYTHONPATH": os.pathsep.join(filter(None, [str(code_dir), os.environ.get("PYTHONPATH")]))}
        kubelet_dir = folder.folder / "kubelet"
        with LocalKubelet(plane.admin.kubeconfig, kubelet_dir, DEV_NODE_NAME, environment=environment) as kubelet:
            # one controller on a private cluster: every namespace, nothing to elect a leader against
            options = ControllerOptions(kubeconfig=kubeconfig, leader_election=False)
            with ControllerThread(options):
                kubectl = str(found.kubectl) if found.kubectl else "kubectl"
                _say(
                    "\n".join(
                        [
                            f"ready: API server {plane.admin.server}, node {DEV_NODE_NAME}, controller running",
                            f"export KUBECONFIG={kubeconfig}",
                            f"  kubectl: {kubectl}   (try: kubectl get kubeasset)",
                            f"  Pods import code from {code_dir}; volumes under {kubelet_dir / 'volumes'}"
                            + ("" if kubelet.uses_mount_namespaces else " (NOT mounted: needs root)"),
                            f"  logs: {plane.log_dir}  (controller and kubelet: {log_file})",
                            "Ctrl-C stops everything.",
                        ]
                    )
                )
                documents = dev_apply.read_documents(dev_apply.manifest_files(path))
                failed = dev_apply.apply_all(applier, documents, _say)
                _say(f"applied {len(documents) - failed} of {len(documents)} manifests from {path}")
                _watch(api_client, plane.raise_if_exited)


def _quiet_success(line: str) -> None:
    if line.startswith("error:"):
        _say(line)


def _watch(api_client: Any, check_plane: Callable[[], None]) -> None:
    """Look at the cluster every second and print what changed, until a stop signal."""
    started = datetime.now(UTC)
    view = DevView()
    while True:
        check_plane()  # a control-plane program that dies ends the command with its log
        observation = _observe(api_client, started)
        if observation is not None:
            lines, view = view.update(observation, datetime.now(UTC))
            for line in lines:
                _say(line)
        time.sleep(_POLL_SECONDS)


def _observe(api_client: Any, since: datetime) -> Observation | None:
    """One look at the cluster, or None when the API server did not answer (the next look tries again)."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    from kubeasset.api.base import API_GROUP, API_VERSION
    from kubeasset.api.registry import parse_resource
    from kubeasset.cli.kube_access import REQUEST_TIMEOUT, TRANSPORT_ERRORS

    custom = client.CustomObjectsApi(api_client)
    core = client.CoreV1Api(api_client)
    try:
        listed: dict[str, Any] = {
            plural: custom.list_cluster_custom_object(API_GROUP, API_VERSION, plural, _request_timeout=REQUEST_TIMEOUT)
            for plural in ("codelocations", "assetjobs", "assetruns")
        }
        events = core.list_event_for_all_namespaces(field_selector="type=Warning", _request_timeout=REQUEST_TIMEOUT)
    except (ApiException, *TRANSPORT_ERRORS) as error:
        logging.getLogger("kubeasset.dev").warning("cannot look at the cluster: %s", error)
        return None
    parsed = {plural: [parse_resource(item) for item in body.get("items") or []] for plural, body in listed.items()}
    warnings = [event for event in api_client.sanitize_for_serialization(events.items) if _event_after(event, since)]
    return Observation(
        locations=parsed["codelocations"],  # type: ignore[arg-type]
        jobs=parsed["assetjobs"],  # type: ignore[arg-type]
        runs=parsed["assetruns"],  # type: ignore[arg-type]
        warnings=warnings,
    )


def _event_after(event: Mapping[str, Any], since: datetime) -> bool:
    # Events outlive a restart (etcd's data is kept): show only those of this session.
    stamp = event.get("lastTimestamp") or event.get("eventTime") or event.get("firstTimestamp")
    if not stamp:
        return True
    when = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    return when >= since.replace(microsecond=0)


def _log_to_file(path: Path) -> Path:
    """The controller's and kubelet's log lines go to a file; the terminal shows the live view (and
    kubeasset's own warnings, e.g. volumes not mounted)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    console = logging.StreamHandler()
    console.setLevel(logging.WARNING)
    console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    # the kubelet's warnings (volumes not mounted, ...) concern the person; the controller's show as Events
    console.addFilter(lambda record: record.name.startswith(("kubeasset.kubelet", "kubeasset.dev")))
    root.addHandler(console)
    return path
