"""A small JSON-over-HTTPS client for the few API calls the local kubelet makes, with streaming watches.

The kubernetes package loads the kubeconfig (certificates, tokens, exec plugins); requests go through
urllib3 directly so that objects stay plain dicts (the status builder works on dicts, as the API does) and
a watch stream can be shut down from another thread when the kubelet stops.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import urllib3
from kubernetes import client, config

from kubeasset.errors import KubeletError

JsonObject = dict[str, Any]

#: (connect, read) seconds for ordinary calls; watches set their own read timeout.
_TIMEOUT = urllib3.Timeout(connect=5.0, read=30.0)


class KubeClient:
    """Plain-dict access to the API server described by a kubeconfig.

    >>> api = KubeClient.from_kubeconfig(Path("admin.kubeconfig"))  # doctest: +SKIP
    >>> api.get("/api/v1/namespaces/default/pods/x")["status"]["phase"]  # doctest: +SKIP
    """

    def __init__(self, configuration: client.Configuration) -> None:
        self._configuration = configuration
        self.server = str(configuration.host).rstrip("/")
        self.ca_file: str | None = configuration.ssl_ca_cert
        self._pool = urllib3.PoolManager(
            num_pools=4,
            maxsize=16,
            cert_reqs="CERT_REQUIRED" if configuration.verify_ssl else "CERT_NONE",
            ca_certs=configuration.ssl_ca_cert,
            cert_file=configuration.cert_file,
            key_file=configuration.key_file,
        )
        self._streams: set[urllib3.BaseHTTPResponse] = set()
        self._lock = threading.Lock()

    @classmethod
    def from_kubeconfig(cls, kubeconfig: Path, context: str | None = None) -> KubeClient:
        configuration = client.Configuration()
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=str(kubeconfig), context=context, client_configuration=configuration
        )
        return cls(configuration)

    def get(self, path: str, query: Mapping[str, Any] | None = None) -> JsonObject:
        return self.request("GET", path, query=query)

    def post(self, path: str, body: JsonObject, query: Mapping[str, Any] | None = None) -> JsonObject:
        return self.request("POST", path, body=body, query=query)

    def put(self, path: str, body: JsonObject) -> JsonObject:
        return self.request("PUT", path, body=body)

    def merge_patch(self, path: str, body: JsonObject) -> JsonObject:
        return self.request("PATCH", path, body=body, content_type="application/merge-patch+json")

    def delete(self, path: str, body: JsonObject | None = None) -> JsonObject:
        return self.request("DELETE", path, body=body)

    def request(
        self,
        method: str,
        path: str,
        *,
        body: JsonObject | None = None,
        query: Mapping[str, Any] | None = None,
        content_type: str = "application/json",
        timeout: float | None = None,
    ) -> JsonObject:
        """One call; KubeletError with the HTTP ``status`` (None when the server was not reached)."""
        try:
            response = self._pool.request(
                method,
                self._url(path, query),
                body=None if body is None else json.dumps(body).encode(),
                headers=self._headers(content_type),
                timeout=_TIMEOUT if timeout is None else urllib3.Timeout(connect=5.0, read=timeout),
                retries=False,
            )
        except urllib3.exceptions.HTTPError as error:
            raise KubeletError(f"{method} {path}: the API server is unreachable: {error}") from error
        if response.status >= 400:
            raise _api_error(method, path, response.status, response.data)
        result: JsonObject = json.loads(response.data) if response.data else {}
        return result

    def watch(self, path: str, query: Mapping[str, Any]) -> Iterator[JsonObject]:
        """The events of one watch request (``watch=1`` is added); ends when the server closes it or
        close_streams() is called. A 410 arrives as an ERROR event, as the API sends it."""
        try:
            response = self._pool.request(
                "GET",
                self._url(path, {**query, "watch": "1"}),
                headers=self._headers("application/json"),
                timeout=urllib3.Timeout(connect=5.0, read=None),
                preload_content=False,
                retries=False,
            )
        except urllib3.exceptions.HTTPError as error:
            raise KubeletError(f"watch {path}: the API server is unreachable: {error}") from error
        if response.status >= 400:
            raise _api_error("WATCH", path, response.status, response.read())
        with self._lock:
            self._streams.add(response)
        try:
            buffer = b""
            for chunk in response.stream(65536, decode_content=True):
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.strip():
                        yield json.loads(line)
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as error:
            # shut down by close_streams(), or the connection broke: either way this watch is over.
            raise KubeletError(f"watch {path} ended: {error}") from error
        finally:
            with self._lock:
                self._streams.discard(response)
            response.release_conn()

    def close_streams(self) -> None:
        """End every open watch (so threads blocked reading one return at once)."""
        with self._lock:
            streams = list(self._streams)
        for stream in streams:
            try:
                stream.shutdown()
            except (OSError, ValueError, RuntimeError):
                # The stream ended on its own between the listing and here: its socket closed (EBADF),
                # the response closed (ValueError) or its connection went back to the pool
                # (RuntimeError), as urllib3 reports each. Ending it is what this call is for.
                continue

    def _url(self, path: str, query: Mapping[str, Any] | None) -> str:
        url = self.server + path
        if query:
            url += "?" + urllib.parse.urlencode({key: value for key, value in query.items() if value is not None})
        return url

    def _headers(self, content_type: str) -> dict[str, str]:
        headers = {"Accept": "application/json", "Content-Type": content_type, "User-Agent": "kubeasset-kubelet"}
        settings: Mapping[str, Any] = self._configuration.auth_settings()
        for setting in settings.values():
            if setting["in"] == "header" and setting["value"]:
                headers[str(setting["key"])] = str(setting["value"])
        return headers


def _api_error(method: str, path: str, status: int, data: bytes) -> KubeletError:
    try:
        message = json.loads(data).get("message", "")
    except ValueError:
        message = data.decode(errors="replace")[:500]
    return KubeletError(f"{method} {path}: HTTP {status}: {message}", status=status)
