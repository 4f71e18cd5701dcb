"""``python -m server.keys new --name NAME [--permissions predict,history] [--file keys.json]``

Makes a new API key, prints it once (it is not stored anywhere), and adds its hash to the keys file the
server reads (``--api-keys-file``). Restart the server to load the new key.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from server.auth import PERMISSIONS, hash_key, new_key


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m server.keys", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("new", help="make a key and add its hash to the keys file")
    make.add_argument("--name", required=True, help="who the key is for; recorded with each prediction")
    make.add_argument("--permissions", default="predict", help=f"comma-separated: {', '.join(PERMISSIONS)}")
    make.add_argument("--file", type=Path, default=Path("keys.json"), help="keys file (created if missing)")
    args = parser.parse_args(argv)
    permissions = sorted({p.strip() for p in args.permissions.split(",") if p.strip()})
    unknown = set(permissions) - set(PERMISSIONS)
    if unknown or not permissions:
        print(f"permissions must be among {', '.join(PERMISSIONS)}", file=sys.stderr)
        return 2
    data = json.loads(args.file.read_text()) if args.file.exists() else {"keys": []}
    if any(k.get("name") == args.name for k in data["keys"]):
        print(f"{args.file} already has a key named {args.name!r}", file=sys.stderr)
        return 2
    secret = new_key()
    data["keys"].append({"name": args.name, "sha256": hash_key(secret), "permissions": permissions})
    args.file.write_text(json.dumps(data, indent=2) + "\n")
    args.file.chmod(0o600)
    print(secret)
    print(f"added {args.name!r} ({', '.join(permissions)}) to {args.file}; the key above is shown only once",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
