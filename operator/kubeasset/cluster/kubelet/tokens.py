"""Service-account tokens for a Pod's projected volumes, from the TokenRequest API, bound to the Pod (so the
API server stops accepting them once the Pod is gone) and fetched again, as the kubelet's token manager
does, once 80% of their lifetime has passed or they are a day old, whichever comes first.

    >>> tokens = PodTokens(api, "shop", "controller-0", "uid-1")  # doctest: +SKIP
    >>> tokens.token("kubeasset", audience=None, expiration_seconds=3607)  # doctest: +SKIP
    'eyJhbGciOi...'
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from kubeasset.cluster.kubelet.kube_client import KubeClient
from kubeasset.errors import ContainerConfigError, KubeletError

#: The kubelet's upper bound on a token's age before it asks for a new one (token manager's maxTTL).
MAX_TOKEN_AGE = timedelta(hours=24)
#: A token is renewed once this share of its lifetime has passed.
REFRESH_FRACTION = 0.8
#: What the API server assumes when a serviceAccountToken projection names no expirationSeconds.
DEFAULT_EXPIRATION_SECONDS = 3600


def refresh_time(issued_at: datetime, expires_at: datetime, max_age: timedelta = MAX_TOKEN_AGE) -> datetime:
    """When a token issued at ``issued_at`` and valid until ``expires_at`` should be replaced.

    >>> start = datetime(2026, 1, 1, tzinfo=UTC)
    >>> refresh_time(start, start + timedelta(hours=1)) - start
    datetime.timedelta(seconds=2880)
    """
    lifetime = max(expires_at - issued_at, timedelta(0))
    return issued_at + min(lifetime * REFRESH_FRACTION, max_age)


@dataclass(frozen=True)
class IssuedToken:
    token: str
    issued_at: datetime
    expires_at: datetime
    refresh_at: datetime


class PodTokens:
    """The tokens of one Pod, by (service account, audience, expirationSeconds); thread-safe."""

    def __init__(
        self,
        api: KubeClient,
        namespace: str,
        pod_name: str,
        pod_uid: str,
        *,
        max_age: timedelta = MAX_TOKEN_AGE,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._api = api
        self._namespace = namespace
        self._pod_name = pod_name
        self._pod_uid = pod_uid
        self._max_age = max_age
        self._clock = clock
        self._issued: dict[tuple[str, str | None, int], IssuedToken] = {}
        self._lock = threading.Lock()

    def token(self, service_account: str, audience: str | None, expiration_seconds: int | None) -> str:
        """A valid token, fetched when there is none yet or the cached one is due for renewal.

        A failed renewal keeps the old token while it is still valid (the next call tries again); a token
        that cannot be had at all raises ContainerConfigError, which holds the container in
        ContainerCreating as a failed volume mount does.
        """
        key = (service_account, audience or None, int(expiration_seconds or DEFAULT_EXPIRATION_SECONDS))
        with self._lock:
            known = self._issued.get(key)
            now = self._clock()
            if known is not None and now < known.refresh_at:
                return known.token
            try:
                issued = self._request(*key, now)
            except KubeletError as error:
                if known is not None and now < known.expires_at:
                    return known.token
                raise ContainerConfigError(
                    f"MountVolume.SetUp failed: cannot get a token for service account "
                    f'"{self._namespace}/{service_account}": {error}',
                    reason="ContainerCreating",
                ) from error
            self._issued[key] = issued
            return issued.token

    def next_refresh(self) -> datetime | None:
        """The earliest instant a token of this Pod is due for renewal (None: no token issued)."""
        with self._lock:
            return min((issued.refresh_at for issued in self._issued.values()), default=None)

    def _request(self, service_account: str, audience: str | None, expiration: int, now: datetime) -> IssuedToken:
        body = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {
                # None: the API server's own audiences, as for a projection without `audience`
                "audiences": [audience] if audience else None,
                "expirationSeconds": expiration,
                "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": self._pod_name, "uid": self._pod_uid},
            },
        }
        answer = self._api.post(f"/api/v1/namespaces/{self._namespace}/serviceaccounts/{service_account}/token", body)
        status = answer.get("status") or {}
        token = status.get("token")
        if not token:
            raise KubeletError(f"the TokenRequest for {service_account!r} returned no token")
        expires_at = datetime.fromisoformat(str(status["expirationTimestamp"]).replace("Z", "+00:00"))
        return IssuedToken(token, now, expires_at, refresh_time(now, expires_at, self._max_age))
