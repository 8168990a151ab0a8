"""API keys: what a bearer token is made of, how it is stored and what it may do.

A key reads `ifk_<id>_<secret>`. The id is public (listed, revoked by it); only the
secret's sha256 is stored, which is enough for 256 random bits: no rainbow table reaches
them, and a slow hash would only slow every request down.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from enum import StrEnum

PREFIX = "ifk"
_TOKEN = re.compile(r"ifk_([0-9a-z]{12})_([0-9A-Za-z_-]{43})")
TENANT_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")


class Scope(StrEnum):
    READ = "assets:read"
    WRITE = "assets:write"
    DELETE = "assets:delete"


ALL_SCOPES = frozenset(Scope)


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    tenant: str
    scopes: frozenset[Scope]
    secret_sha256: str
    created: float  # unix seconds
    revoked: float | None = None

    def allows(self, scope: Scope) -> bool:
        return self.revoked is None and scope in self.scopes


def token(key_id: str, secret: str) -> str:
    """The bearer token shown once, when a key is created."""
    return f"{PREFIX}_{key_id}_{secret}"


def parse_token(text: str) -> tuple[str, str] | None:
    """(key id, secret sha256) of a well-formed token; None for anything else."""
    match = _TOKEN.fullmatch(text)
    if match is None:
        return None
    return match[1], secret_digest(match[2])


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def matches(key: ApiKey, digest: str) -> bool:
    """Whether a token's secret digest is the key's, compared in constant time."""
    return hmac.compare_digest(key.secret_sha256, digest)


def check_tenant(name: str) -> str:
    if TENANT_PATTERN.fullmatch(name) is None:
        raise ValueError(
            "tenant: expected 1-63 of a-z, 0-9, '_' and '-', starting with a letter or digit; "
            f"received {name!r:.70}"
        )
    return name
