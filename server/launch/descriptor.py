"""The proto descriptor set Envoy's transcoder reads, built from proto/ when missing or stale."""

from __future__ import annotations

import sysconfig
from pathlib import Path

from grpc_tools import protoc

from server.config import REPO_ROOT

PROTO_ROOT = REPO_ROOT / "proto"


def build_descriptor(out: Path) -> Path:
    protos = sorted(PROTO_ROOT.rglob("*.proto"))
    if out.exists() and out.stat().st_mtime >= max(p.stat().st_mtime for p in protos):
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    site = sysconfig.get_paths()["purelib"]  # google/api/*.proto from googleapis-common-protos
    well_known = Path(protoc.__file__).parent / "_proto"  # google/protobuf/*.proto from grpcio-tools
    args = ["protoc", f"-I{PROTO_ROOT}", f"-I{site}", f"-I{well_known}", "--include_imports",
            "--include_source_info", f"--descriptor_set_out={out}", *(str(p) for p in protos)]
    if protoc.main(args) != 0:
        raise RuntimeError(f"protoc failed to build {out}")
    return out
