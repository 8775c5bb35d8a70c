"""The kubelet's HTTPS endpoint that the API server proxies `kubectl logs` to:
``GET /containerLogs/{namespace}/{pod}/{container}`` with follow, tailLines, timestamps, sinceSeconds,
sinceTime, limitBytes, previous and stream, served from the CRI log files.

Callers must present a client certificate signed by the cluster CA (the API server's
--kubelet-client-certificate), and are authorised like the kubelet's webhook authorizer does: a
SubjectAccessReview for ``get nodes/proxy`` on this node.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from kubeasset.cluster.kubelet import cri_log
from kubeasset.cluster.kubelet.kube_client import KubeClient
from kubeasset.errors import KubeletError

log = logging.getLogger("kubeasset.kubelet")

_FOLLOW_POLL_SECONDS = 0.1
_AUTHORIZATION_CACHE_SECONDS = 60.0


@dataclass(frozen=True)
class LogSource:
    """Where one container instance's log is, and whether it may still grow."""

    file: Path
    live: Callable[[], bool]


class LogNotFound(Exception):  # noqa: N818 - a 4xx answer, not a bug: the message is sent to the client
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


#: (namespace, pod, container, previous) -> the log; raises LogNotFound.
Locate = Callable[[str, str, str, bool], LogSource]


class LogServer:
    """Serves container logs on ``127.0.0.1:port`` until stop().

    >>> server = LogServer(api, "node", locate, cert, key)  # doctest: +SKIP
    >>> server.start(); server.port  # doctest: +SKIP
    """

    def __init__(self, api: KubeClient, node_name: str, locate: Locate, cert_file: Path, key_file: Path) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(cert_file), str(key_file))
        if api.ca_file:
            context.load_verify_locations(api.ca_file)
            context.verify_mode = ssl.CERT_REQUIRED
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        # the TLS handshake happens in the request's thread, so a slow client cannot stall accept()
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True, do_handshake_on_connect=False)
        self._server.kubelet = self  # type: ignore[attr-defined]
        self.api = api
        self.node_name = node_name
        self.locate = locate
        self.stopping = threading.Event()
        self._authorized: dict[tuple[str, tuple[str, ...]], tuple[bool, float]] = {}
        self._thread = threading.Thread(target=self._server.serve_forever, name="kubelet-log-server", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def authorized(self, user: str, groups: tuple[str, ...]) -> bool:
        cached = self._authorized.get((user, groups))
        if cached is not None and time.monotonic() - cached[1] < _AUTHORIZATION_CACHE_SECONDS:
            return cached[0]
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": user,
                "groups": list(groups),
                "resourceAttributes": {
                    "verb": "get",
                    "resource": "nodes",
                    "subresource": "proxy",
                    "name": self.node_name,
                },
            },
        }
        allowed = bool(
            self.api.post("/apis/authorization.k8s.io/v1/subjectaccessreviews", review).get("status", {}).get("allowed")
        )
        self._authorized[(user, groups)] = (allowed, time.monotonic())
        return allowed


class _Handler(BaseHTTPRequestHandler):
    server_version = "kubeasset-kubelet"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        log.debug("log server: " + format, *args)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        kubelet: LogServer = self.server.kubelet  # type: ignore[attr-defined]
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/healthz":
            self._plain(200, "ok")
            return
        parts = url.path.strip("/").split("/")
        if len(parts) != 4 or parts[0] != "containerLogs":
            self._plain(404, f"{url.path} is not served by the local kubelet")
            return
        try:
            if not self._authorized(kubelet):
                return
            query = urllib.parse.parse_qs(url.query)
            options, follow, previous = _options(query)
            source = kubelet.locate(parts[1], parts[2], parts[3], previous)
        except LogNotFound as error:
            self._plain(error.status, str(error))
            return
        except (ValueError, KubeletError) as error:
            self._plain(400, str(error))
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Connection", "close")
        self.end_headers()
        try:
            for chunk in _stream(source, options, follow, kubelet.stopping):
                self.wfile.write(chunk)
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            return  # the client went away (kubectl logs -f interrupted)

    def _authorized(self, kubelet: LogServer) -> bool:
        connection = self.connection
        certificate = connection.getpeercert() if isinstance(connection, ssl.SSLSocket) else None
        if not certificate:
            self._plain(401, "Unauthorized: a client certificate signed by the cluster CA is required")
            return False
        subject = [dict(entry) for entry in certificate.get("subject", ())]  # type: ignore[arg-type]
        user = next((e["commonName"] for e in subject if "commonName" in e), "")
        groups = tuple(e["organizationName"] for e in subject if "organizationName" in e)
        if not kubelet.authorized(user, groups):
            self._plain(
                403,
                f"Forbidden (user={user}, verb=get, resource=nodes, subresource=proxy, name={kubelet.node_name})",
            )
            return False
        return True

    def _plain(self, status: int, text: str) -> None:
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _options(query: dict[str, list[str]]) -> tuple[cri_log.LogQuery, bool, bool]:
    def get(name: str) -> str | None:
        values = query.get(name)
        return values[-1] if values else None

    def flag(name: str) -> bool:
        return (get(name) or "").lower() in ("true", "1")

    def number(name: str) -> int | None:
        text = get(name)
        return None if text is None else int(text)

    since: datetime | None = None
    if (seconds := number("sinceSeconds")) is not None:
        since = datetime.now(UTC) - timedelta(seconds=seconds)
    elif (moment := get("sinceTime")) is not None:
        since = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    stream = (get("stream") or "All").lower()
    options = cri_log.LogQuery(
        tail_lines=number("tailLines"),
        since=since,
        timestamps=flag("timestamps"),
        limit_bytes=number("limitBytes"),
        stream=None if stream == "all" else stream,
    )
    return options, flag("follow"), flag("previous")


def _stream(source: LogSource, options: cri_log.LogQuery, follow: bool, stopping: threading.Event) -> Iterator[bytes]:
    """The answer's bytes: what the file holds now, then (follow) what is appended until the container
    ends; at most limitBytes."""
    remaining = options.limit_bytes
    offset = 0

    def read_new() -> list[cri_log.LogRecord]:
        nonlocal offset
        try:
            with source.file.open("rb") as file:
                file.seek(offset)
                data = file.read()
        except FileNotFoundError:
            return []
        complete = data[: data.rfind(b"\n") + 1]
        offset += len(complete)
        return [r for line in complete.splitlines(keepends=True) if (r := cri_log.parse_record(line)) is not None]

    def limited(chunks: Iterator[bytes]) -> Iterator[bytes]:
        nonlocal remaining
        for chunk in chunks:
            if remaining is not None:
                chunk = chunk[:remaining]
                remaining -= len(chunk)
            if chunk:
                yield chunk
            if remaining is not None and remaining <= 0:
                return

    yield from limited(cri_log.render(read_new(), options))
    if not follow:
        return
    while not stopping.is_set() and (remaining is None or remaining > 0):
        live = source.live()  # asked before reading, so output written just before the end is not lost
        records = read_new()
        if records:
            yield from limited(cri_log.render_one(r, options) for r in records if cri_log.wanted(r, options))
        elif not live:
            return
        else:
            time.sleep(_FOLLOW_POLL_SECONDS)
