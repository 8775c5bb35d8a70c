"""Writes self-contained kubeconfig files (certificates embedded) for the local control plane's clients."""

from __future__ import annotations

import base64
from pathlib import Path

import yaml


def write_kubeconfig(
    path: Path, *, server: str, ca_file: Path, cert_file: Path, key_file: Path, name: str = "kubeasset-local"
) -> Path:
    """Write a kubeconfig whose one context reaches ``server`` as the client certificate's user.

    >>> write_kubeconfig(Path("admin.kubeconfig"), server="https://127.0.0.1:6443", ca_file=Path("ca.crt"),
    ...                  cert_file=Path("admin.crt"), key_file=Path("admin.key"))  # doctest: +SKIP
    """

    def embedded(file: Path) -> str:
        return base64.b64encode(file.read_bytes()).decode("ascii")

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": server, "certificate-authority-data": embedded(ca_file)}}],
        "users": [
            {
                "name": name,
                "user": {
                    "client-certificate-data": embedded(cert_file),
                    "client-key-data": embedded(key_file),
                },
            }
        ],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name, "namespace": "default"}}],
        "current-context": name,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)  # it holds a private key
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def write_token_kubeconfig(
    path: Path,
    *,
    server: str,
    certificate_authority_data: str,
    token: str,
    namespace: str = "default",
    name: str = "kubeasset-token",
) -> Path:
    """Write a kubeconfig whose one context reaches ``server`` with a bearer ``token`` (e.g. a ServiceAccount
    token from the TokenRequest API): what a Pod running as that ServiceAccount would be allowed, and no more.

    ``certificate_authority_data`` is base64 PEM, as in another kubeconfig's ``certificate-authority-data``.

    >>> write_token_kubeconfig(Path("controller.kubeconfig"), server="https://127.0.0.1:6443",
    ...                        certificate_authority_data=ca_b64, token=token)  # doctest: +SKIP
    """
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": name, "cluster": {"server": server, "certificate-authority-data": certificate_authority_data}}
        ],
        "users": [{"name": name, "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name, "namespace": namespace}}],
        "current-context": name,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)  # it holds a credential
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path
