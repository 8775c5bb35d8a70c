"""Helpers for tests of the Helm chart in helm/kubeasset: render it with the built helm, pick objects out of
the rendering, and give a test the controller's own credentials (a ServiceAccount token from the TokenRequest
API) so that it can prove the chart's RBAC is enough for the controller, and no more."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from kubeasset.cluster.helm_binary import HelmBinary
from kubeasset.cluster.kubeconfig import write_token_kubeconfig

REPOSITORY = Path(__file__).resolve().parents[2]
CHART = REPOSITORY / "helm" / "kubeasset"
#: The kinds that make up the chart's RBAC, in the order they can be applied.
RBAC_KINDS = ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")


def helm_run(helm: HelmBinary, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run helm with a throwaway configuration (no repositories, no kube context needed for lint/template)."""
    completed = subprocess.run([str(helm.path), *args], capture_output=True, text=True, timeout=120, check=False)
    if check and completed.returncode != 0:
        raise AssertionError(
            f"`helm {' '.join(args)}` exited {completed.returncode}:\n{completed.stderr}{completed.stdout}"
        )
    return completed


def set_arguments(values: Mapping[str, Any]) -> list[str]:
    """``--set-json key=json`` for each value: typed exactly (lists and numbers stay lists and numbers)."""
    arguments: list[str] = []
    for key, value in values.items():
        arguments += ["--set-json", f"{key}={json.dumps(value)}"]
    return arguments


def render_chart(
    helm: HelmBinary,
    *,
    release: str = "kubeasset",
    namespace: str = "kubeasset-system",
    values: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """``helm template`` of the chart as a list of manifests (the CRDs are not templates: see crds/)."""
    rendered = helm_run(helm, "template", release, str(CHART), "--namespace", namespace, *set_arguments(values or {}))
    return [document for document in yaml.safe_load_all(rendered.stdout) if document]


def of_kind(documents: Iterable[Mapping[str, Any]], *kinds: str) -> list[dict[str, Any]]:
    """The documents of the given kinds, in order."""
    return [dict(document) for document in documents if document.get("kind") in kinds]


def service_account_kubeconfig(
    kubectl: Any, admin_kubeconfig: Path, namespace: str, service_account: str, path: Path, duration: str = "1h"
) -> Path:
    """Write a kubeconfig acting as ``system:serviceaccount:<namespace>:<service_account>``: a token from the
    TokenRequest API (``kubectl create token``) for the admin kubeconfig's server, as a Pod running as that
    ServiceAccount would have. Run the controller with it to prove the chart's RBAC is enough.

    ``kubectl`` is the integration tests' ``kubectl`` fixture (admin).
    """
    token = kubectl("create", "token", service_account, "-n", namespace, f"--duration={duration}").stdout.strip()
    admin = yaml.safe_load(admin_kubeconfig.read_text(encoding="utf-8"))
    cluster = admin["clusters"][0]["cluster"]
    return write_token_kubeconfig(
        path,
        server=cluster["server"],
        certificate_authority_data=cluster["certificate-authority-data"],
        token=token,
        namespace=namespace,
    )
