"""kopf's settings for kubeasset: kubeasset's names, and no cluster-wide listing in namespaced mode (the
chart's namespaced RBAC forbids listing namespaces; kopf would retry for about a minute before starting)."""

from __future__ import annotations

import kopf
import pytest

from kubeasset.controller.operator import FINALIZER, configure


def test_kubeassets_names_replace_kopfs() -> None:
    settings = configure(kopf.OperatorSettings())
    assert settings.persistence.finalizer == FINALIZER == "kubeasset.dev/finalizer"
    assert settings.peering.standalone


@pytest.mark.parametrize(
    ("namespaces", "scanning"),
    [((), True), (("shop", "analytics"), False), (("team-*",), True)],
    ids=["cluster-wide", "exact-namespaces", "namespace-pattern"],
)
def test_namespaces_are_only_scanned_when_they_must_be_discovered(namespaces: tuple[str, ...], scanning: bool) -> None:
    settings = configure(kopf.OperatorSettings(), namespaces=namespaces)
    assert settings.scanning.disabled is not scanning
