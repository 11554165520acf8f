"""The audit log: every config change and migration run, with secrets masked before storage."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from llmopt_admin.configs.models import AuditEntry

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

MASK = "********"

# Compared after lowercasing and dropping "_", "-" and ".", so apiKey, api_key, API-KEY all match.
_SECRET_NAMES = frozenset({"apikey", "secret", "password", "token"})
# Longer names that still hold a secret (clientSecret, awsSecretAccessKey, accessToken, ...).
_SECRET_SUFFIXES = (
    "apikey",
    "secret",
    "password",
    "secretkey",
    "secretaccesskey",
    "accesskey",
    "accesstoken",
    "authtoken",
    "refreshtoken",
    "bearertoken",
    "privatekey",
    "credentials",
)
_SEPARATORS = re.compile(r"[_\-.\s]")


def is_secret_key(name: object) -> bool:
    """Whether a mapping key names a secret (apiKey, api_key, secret, password, token, ...)."""
    if not isinstance(name, str):
        return False
    normalized = _SEPARATORS.sub("", name).lower()
    return normalized in _SECRET_NAMES or normalized.endswith(_SECRET_SUFFIXES)


# Credential identifiers (AWS access key ids): not secret alone, but not for every page either;
# shown as their first and last four characters, enough to recognise which key it is.
_PARTLY_SHOWN_SUFFIXES = ("accesskeyid",)


def is_partly_shown_key(name: object) -> bool:
    """Whether a mapping key names a credential identifier shown only partly (awsAccessKeyId)."""
    return isinstance(name, str) and _SEPARATORS.sub("", name).lower().endswith(
        _PARTLY_SHOWN_SUFFIXES
    )


def partly_shown(value: Any) -> Any:
    """`AKIA…WXYZ` for an identifier long enough to keep 8 characters hidden, else MASK."""
    if value is None or value == "":
        return value
    text = str(value)
    return f"{text[:4]}…{text[-4:]}" if len(text) >= 16 else MASK


def mask_secrets(obj: Any) -> Any:
    """A copy of `obj` with the value of every secret-named key, at any depth, masked.

    Empty values (None, "") stay as they are so "not set" remains visible; anything else becomes
    MASK, whatever its type, so neither the secret nor its length leaks. The input is not changed.
    """
    if isinstance(obj, Mapping):
        return {
            key: (
                _mask_value(value)
                if is_secret_key(key)
                else partly_shown(value)
                if is_partly_shown_key(key)
                else mask_secrets(value)
            )
            for key, value in obj.items()
        }
    if isinstance(obj, list | tuple):
        return [mask_secrets(item) for item in obj]
    return obj


def _mask_value(value: Any) -> Any:
    if value is None or value == "":
        return value
    return MASK


def _label_for(actor: AbstractBaseUser | AnonymousUser | None) -> str:
    if actor is None or not getattr(actor, "is_authenticated", False):
        return "system"
    return str(actor.get_username())


def audit_record(
    *,
    actor: AbstractBaseUser | AnonymousUser | None,
    action: str,
    target: str,
    changes: Mapping[str, Any],
    actor_label: str | None = None,
) -> AuditEntry:
    """Store one audit entry; secrets anywhere in `changes` are masked first.

    `actor` is the signed-in user (None for command-line runs and the system). `actor_label`
    overrides the name shown, e.g. "cli:alice" for a management command.
    """
    user = actor if actor is not None and getattr(actor, "is_authenticated", False) else None
    return AuditEntry.objects.create(
        actor=user,
        actor_label=(actor_label or _label_for(actor))[:150],
        action=action,
        target=target[:254],
        changes=mask_secrets(dict(changes)),
    )
