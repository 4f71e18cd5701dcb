from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from server.auth import HISTORY, PREDICT, ApiKey, KeyRing, bearer_token, hash_key, new_key
from server.config import load_config
from tests.conftest import REPO


def test_keys_match_by_hash_only() -> None:
    secret = new_key()
    ring = KeyRing((ApiKey("alice", hash_key(secret), frozenset({PREDICT})),
                    ApiKey("bob", hash_key(new_key()), frozenset({PREDICT, HISTORY}))))
    found = ring.authenticate(secret)
    assert found is not None and found.name == "alice"
    assert ring.authenticate(secret + "x") is None and ring.authenticate("") is None
    assert not KeyRing() and ring


@pytest.mark.parametrize(("metadata", "token"), [
    ([("authorization", "Bearer abc")], "abc"),
    ([("authorization", "bearer  abc ")], "abc"),
    ([("authorization", "Basic abc")], ""),
    ([("x-other", "Bearer abc")], ""),
    ([], ""),
])
def test_bearer_token(metadata: list[tuple[str, str]], token: str) -> None:
    assert bearer_token(metadata) == token


@pytest.mark.parametrize(("content", "message"), [
    ("not json", "cannot read API keys"),
    ('{"keys": []}', "holds no API keys"),
    ('{"keys": [{"name": "a", "sha256": "xyz"}]}', "64-digit hex"),
    ('{"keys": [{"name": "a", "sha256": "' + "a" * 64 + '", "permissions": ["admin"]}]}', "unknown permissions"),
])
def test_bad_key_files_are_refused(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "keys.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        KeyRing.load(path)


def test_the_keys_command_prints_the_key_once_and_stores_only_its_hash(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    result = subprocess.run([sys.executable, "-m", "server.keys", "new", "--name", "kyc-team", "--permissions",
                             "predict,history", "--file", str(path)], cwd=REPO, capture_output=True, text=True,
                            check=True)
    secret = result.stdout.strip()
    assert secret.startswith("dfk_") and len(secret) > 40
    stored = path.read_text()
    assert secret not in stored
    entry = json.loads(stored)["keys"][0]
    assert entry == {"name": "kyc-team", "sha256": hash_key(secret), "permissions": ["history", "predict"]}
    assert path.stat().st_mode & 0o777 == 0o600
    ring = KeyRing.load(path)
    key = ring.authenticate(secret)
    assert key is not None and key.permissions == {PREDICT, HISTORY}


def test_without_keys_only_loopback_is_allowed() -> None:
    with pytest.raises(ValueError, match="only binds to a loopback address"):
        load_config(["--host", "0.0.0.0"], environ={})
    assert load_config(["--host", "0.0.0.0", "--allow-open-network", "true"], environ={}).host == "0.0.0.0"
    assert load_config(["--host", "0.0.0.0", "--api-keys-file", "/etc/keys.json"], environ={}).host == "0.0.0.0"
    assert load_config(["--host", "::1"], environ={}).host == "::1"
