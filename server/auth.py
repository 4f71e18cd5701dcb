"""API keys: configured as SHA-256 hashes with permissions; presented as ``authorization: Bearer <key>``.

Keys are 32 random bytes (``python -m server.keys new``), so a plain SHA-256 is enough to store them (no
slow KDF needed for high-entropy secrets). The secret itself is never stored, logged or recorded: the
service only ever handles its hash and the key's name, which becomes the caller's identity.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from pathlib import Path

PREDICT = "predict"
HISTORY = "history"
PERMISSIONS = (PREDICT, HISTORY)
KEY_PREFIX = "dfk_"


@dataclass(frozen=True)
class ApiKey:
    name: str
    sha256: str
    permissions: frozenset[str]


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


class KeyRing:
    """The configured keys. Empty means the service is open (allowed on localhost only, see config)."""

    def __init__(self, keys: tuple[ApiKey, ...] = ()) -> None:
        self.keys = keys

    def __bool__(self) -> bool:
        return bool(self.keys)

    def authenticate(self, secret: str) -> ApiKey | None:
        presented = hash_key(secret)
        found = None
        for key in self.keys:  # compare with every key, in constant time, whatever matches first
            if hmac.compare_digest(presented, key.sha256):
                found = key
        return found

    @classmethod
    def load(cls, path: Path) -> KeyRing:
        """Keys from a JSON file: ``{"keys": [{"name": "...", "sha256": "<hex>", "permissions": [...]}]}``."""
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot read API keys from {path}: {exc}") from None
        keys = []
        for i, entry in enumerate(data.get("keys", []) if isinstance(data, dict) else []):
            name, digest = str(entry.get("name", "")), str(entry.get("sha256", "")).lower()
            permissions = frozenset(entry.get("permissions", [PREDICT]))
            if not name or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                raise ValueError(f"{path}: key {i} needs a name and a 64-digit hex sha256")
            unknown = sorted(permissions - set(PERMISSIONS))
            if unknown:
                raise ValueError(f"{path}: key {name!r} has unknown permissions {unknown}")
            keys.append(ApiKey(name, digest, permissions))
        if not keys:
            raise ValueError(f"{path} holds no API keys")
        return cls(tuple(keys))


def bearer_token(metadata: object) -> str:
    """The token of an ``authorization: Bearer <token>`` metadata entry, or ""."""
    for key, value in metadata or ():  # type: ignore[attr-defined]
        if key == "authorization" and isinstance(value, str):
            scheme, _, token = value.partition(" ")
            if scheme.lower() == "bearer":
                return token.strip()
    return ""
