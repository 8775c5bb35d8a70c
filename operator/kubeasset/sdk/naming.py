"""Naming rules for what users name in code: groups, tags, owners, kinds and job names.

These names travel into the CRD status, Kubernetes labels and Pod arguments, so the rules are those of
Kubernetes labels wherever a name may become one, and Dagster's rules otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, Final

from kubeasset.errors import DefinitionError

#: Dagster's group name rule (letters, digits, underscores), bounded like a label value.
GROUP_NAME_PATTERN: Final = r"[A-Za-z0-9_]{1,63}"

#: A job name: 1-63 letters, digits, '_' or '-', starting and ending with a letter or digit. Every
#: Dagster job name that does not start or end with '_' is valid, and every valid name is a valid
#: Kubernetes label value (so the controller can label a run's Pod with its job).
JOB_NAME_PATTERN: Final = r"[A-Za-z0-9]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?"

#: Tag keys: a Kubernetes label key (optional DNS prefix + '/' + name); values: a label value. Dagster
#: enforces the same shape for definition tags.
_LABEL_NAME = r"[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?"
_DNS_SUBDOMAIN = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*"
_TAG_KEY_RE = re.compile(rf"^({_DNS_SUBDOMAIN}/)?{_LABEL_NAME}$")
_TAG_VALUE_RE = re.compile(rf"^({_LABEL_NAME})?$")
_GROUP_RE = re.compile(rf"^{GROUP_NAME_PATTERN}$")
_JOB_RE = re.compile(rf"^{JOB_NAME_PATTERN}$")
#: Dagster's owner rule: an email address or ``team:<name>``.
_OWNER_RE = re.compile(r"^([^@\s]+@[^@\s]+\.[^@\s]+|team:[A-Za-z0-9_.-]{1,63})$")
_KIND_RE = re.compile(r"^[A-Za-z0-9_.-]{1,63}$")


def validate_group_name(name: Any, *, owner: str) -> str:
    if not isinstance(name, str) or not _GROUP_RE.match(name):
        raise DefinitionError(
            f"{owner}: invalid group_name {name!r}: use 1-63 letters, digits or underscores"
        )
    return name


def validate_job_name(name: Any) -> str:
    if not isinstance(name, str) or not _JOB_RE.match(name):
        raise DefinitionError(
            f"invalid job name {name!r}: use 1-63 letters, digits, '_' or '-', "
            "starting and ending with a letter or digit"
        )
    return name


def validate_tags(tags: Mapping[str, str] | None, *, owner: str) -> Mapping[str, str]:
    if tags is None:
        return MappingProxyType({})
    if not isinstance(tags, Mapping):
        raise DefinitionError(f"{owner}: tags must be a dict of str to str, got {type(tags).__name__}")
    for key, value in tags.items():
        if not isinstance(key, str) or not _TAG_KEY_RE.match(key) or len(key) > 317:
            raise DefinitionError(
                f"{owner}: invalid tag key {_shown(key)}: use a Kubernetes label key, e.g. 'tier' or "
                "'example.com/tier' (1-63 letters, digits, '-', '_' or '.', starting and ending "
                "with a letter or digit)"
            )
        if not isinstance(value, str) or not _TAG_VALUE_RE.match(value):
            raise DefinitionError(
                f"{owner}: invalid value {_shown(value)} for tag {key!r}: use a Kubernetes label value "
                "(a str of at most 63 letters, digits, '-', '_' or '.', starting and ending with a "
                "letter or digit, or empty)"
            )
    return MappingProxyType(dict(tags))


def _shown(value: object) -> str:
    """``value`` quoted for a message; a long one by its start (the message must still say what to fix)."""
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:80]}… ({len(text)} characters)"


def validate_owners(owners: Iterable[str] | None, *, owner: str) -> tuple[str, ...]:
    if owners is None:
        return ()
    if isinstance(owners, str):
        raise DefinitionError(f"{owner}: owners must be a list of str, not a single str {owners!r}")
    result = tuple(owners)
    for item in result:
        if not isinstance(item, str) or not _OWNER_RE.match(item):
            raise DefinitionError(
                f"{owner}: invalid owner {item!r}: use an email address or 'team:<name>' as in Dagster"
            )
    return result


def validate_kinds(kinds: Iterable[str] | None, *, owner: str) -> frozenset[str]:
    if kinds is None:
        return frozenset()
    if isinstance(kinds, str):
        raise DefinitionError(f"{owner}: kinds must be a list/set of str, not a single str {kinds!r}")
    result = frozenset(kinds)
    for item in result:
        if not isinstance(item, str) or not _KIND_RE.match(item):
            raise DefinitionError(
                f"{owner}: invalid kind {item!r}: use 1-63 letters, digits, '-', '_' or '.'"
            )
    return result
