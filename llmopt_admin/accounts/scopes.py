"""What an API token may do: the scopes, and the rule that says which one a request needs."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "ADMIN",
    "INGEST",
    "READ",
    "SCOPES",
    "SUBMIT",
    "ScopeRule",
    "UnknownScope",
    "scope_rule_for",
    "scopes_parse",
]

INGEST = "ingest"
SUBMIT = "submit"
READ = "read"
ADMIN = "admin"

# In the order they are shown and stored.
SCOPES: dict[str, str] = {
    INGEST: "post usage events (POST /api/usage/events): the backend's recorder",
    SUBMIT: "submit, cancel and retry batch jobs, and read them",
    READ: "read batch jobs and their results, the config (secrets masked) and the savings figures",
    ADMIN: "everything, including changing the config (PATCH /api/config/ai-models)",
}


class UnknownScope(ValueError):
    """A scope name that is not one of SCOPES, or no scope at all."""


def scopes_parse(values: Iterable[str]) -> list[str]:
    """`["read,submit", "ingest"]` -> `["ingest", "submit", "read"]`: split on commas, checked,
    without repeats, in the order of SCOPES."""
    asked = {part.strip().lower() for value in values for part in value.split(",")} - {""}
    unknown = sorted(asked - SCOPES.keys())
    if unknown:
        raise UnknownScope(
            f"unknown scope {unknown[0]!r}; choose from {', '.join(SCOPES)} "
            "(repeat --scope or separate them with commas)"
        )
    if not asked:
        raise UnknownScope(f"give at least one scope: {', '.join(SCOPES)}")
    return [scope for scope in SCOPES if scope in asked]


@dataclass(frozen=True)
class ScopeRule:
    """Requests with `method` on `prefix` or below it need `scope` (or one of `also`)."""

    method: str
    prefix: str
    scope: str
    also: tuple[str, ...] = ()

    def matches(self, method: str, path: str) -> bool:
        prefix = self.prefix.rstrip("/")
        return method == self.method and (path == prefix or path.startswith(prefix + "/"))

    def allows(self, scopes: Iterable[str]) -> bool:
        granted = set(scopes)
        return bool(granted & {ADMIN, self.scope, *self.also})


ADMIN_ONLY = ScopeRule("*", "/", ADMIN)


def scope_rule_for(rules: Iterable[ScopeRule], method: str, path: str) -> ScopeRule:
    """The first rule matching the request; a request no rule names is for `admin` only."""
    return next((rule for rule in rules if rule.matches(method, path)), ADMIN_ONLY)
