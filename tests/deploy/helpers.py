"""Offline readers for the deployment files: Dockerfiles, .dockerignore, YAML documents, and the contract
of names (DEEPFAKE_* settings, metric names) the files may use."""

from __future__ import annotations

import dataclasses
import json
import re
import shlex
import shutil
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from server.config import Config

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
DOCKER = DEPLOY / "docker"
K8S = DEPLOY / "k8s"
K8S_TLS = DEPLOY / "k8s-tls"
PROMETHEUS = DEPLOY / "prometheus"
GRAFANA = DEPLOY / "grafana"
DOCKERFILES = sorted(DOCKER.glob("*.Dockerfile"))

# Settings announced for the server that may not be fields of server.config.Config yet (the deployment
# files may set them ahead of the code); everything else must be a Config field.
ANNOUNCED_SETTINGS = {
    "DEEPFAKE_DATABASE_URL", "DEEPFAKE_METRICS_HOST", "DEEPFAKE_METRICS_PORT", "DEEPFAKE_RETENTION_DAYS",
    "DEEPFAKE_SPOOL_DIR", "DEEPFAKE_STORE_UPLOADS", "DEEPFAKE_UPLOAD_DIR", "DEEPFAKE_API_KEYS_FILE",
    "DEEPFAKE_GRACE_S", "DEEPFAKE_THREADS",
}
# The server's metric names as agreed for the dashboard and the alerts (the contract), by type.
SERVER_COUNTERS = {"deepfake_requests_total", "deepfake_predictions_total",
                   "deepfake_prediction_log_write_failures_total"}
SERVER_HISTOGRAMS = {"deepfake_request_duration_seconds", "deepfake_stage_duration_seconds",
                     "deepfake_faces_per_image", "deepfake_fake_probability", "deepfake_inference_batch_size"}
SERVER_GAUGES = {"deepfake_requests_in_flight", "deepfake_model_info", "deepfake_inference_queue_depth",
                 "deepfake_prediction_log_spool_records", "deepfake_prediction_log_queue_records"}
SERVER_SERIES = (SERVER_COUNTERS | SERVER_GAUGES
                 | {f"{h}_{suffix}" for h in SERVER_HISTOGRAMS for suffix in ("bucket", "sum", "count")})
DEEPFAKE_ENV = re.compile(r"\bDEEPFAKE_[A-Z0-9_]+\b")
# Where every shipped server config reads its API keys (a Docker secret in compose, a Secret volume in
# Kubernetes, the images' default), and the files holding them, next to compose.yaml and kustomization.yaml.
API_KEYS_FILE = "/run/secrets/deepfake/api-keys.json"
API_KEYS_SOURCES = (DOCKER / "api-keys.json", K8S / "api-keys.json")
TLS_DIR = DOCKER / "tls"  # compose.tls.yaml's certificates (deploy/docker/make-tls-certs.sh)


def known_settings() -> set[str]:
    return {"DEEPFAKE_" + f.name.upper() for f in dataclasses.fields(Config)} | ANNOUNCED_SETTINGS


def config_field_env_names() -> set[str]:
    return {"DEEPFAKE_" + f.name.upper() for f in dataclasses.fields(Config)}


def yaml_docs(path: Path) -> list[Any]:
    with open(path) as fh:
        return [d for d in yaml.safe_load_all(fh) if d is not None]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def which(tool: str) -> str | None:
    return shutil.which(tool)


# ---- Dockerfiles -------------------------------------------------------------------------------------------

@dataclass
class Instruction:
    keyword: str  # upper case
    value: str  # the rest of the logical line, continuations joined
    line: int

    def json_args(self) -> list[str] | None:
        """The exec form (["a", "b"]) as a list, or None for the shell form."""
        text = self.value.strip()
        if not text.startswith("["):
            return None
        parsed = json.loads(text)
        assert isinstance(parsed, list)
        return [str(x) for x in parsed]


@dataclass
class Stage:
    index: int
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def env(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for instruction in self.all("ENV"):
            for token in shlex.split(instruction.value):
                key, sep, value = token.partition("=")
                assert sep, f"line {instruction.line}: use ENV KEY=VALUE ({token!r})"
                values[key] = value
        return values

    def args(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for instruction in self.all("ARG"):
            key, _, value = instruction.value.strip().partition("=")
            values[key] = shlex.split(value)[0] if value.strip() else ""
        return values


@dataclass
class Dockerfile:
    path: Path
    global_args: dict[str, str]
    stages: list[Stage]

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    def stage(self, name: str) -> Stage:
        return next(s for s in self.stages if s.name == name)


def logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Instruction lines with backslash continuations joined; comment lines inside a continuation are
    dropped, as Docker does."""
    current: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not current):
            continue
        if not current:
            start = number
        if stripped.endswith("\\"):
            current.append(stripped[:-1].strip())
            continue
        current.append(stripped)
        yield start, " ".join(part for part in current if part)
        current = []
    if current:
        yield start, " ".join(current)


def substitute(value: str, variables: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: variables.get(m.group(1) or m.group(2), m.group(0)), value)


def parse_dockerfile(path: Path) -> Dockerfile:
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line, text in logical_lines(path.read_text()):
        keyword, _, value = text.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            parts = value.split()
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(len(stages), substitute(parts[0], global_args), name))
        elif not stages:
            assert keyword == "ARG", f"{path}:{line}: only ARG may precede the first FROM"
            key, _, default = value.partition("=")
            global_args[key.strip()] = shlex.split(default)[0] if default.strip() else ""
        else:
            stages[-1].instructions.append(Instruction(keyword, value, line))
    return Dockerfile(path, global_args, stages)


def copy_parts(instruction: Instruction) -> tuple[dict[str, str], list[str], str]:
    """COPY/ADD flags (--from, --chown...), sources, destination."""
    tokens = instruction.json_args() or shlex.split(instruction.value)
    flags: dict[str, str] = {}
    while tokens and tokens[0].startswith("--"):
        key, _, value = tokens.pop(0)[2:].partition("=")
        flags[key] = value
    return flags, tokens[:-1], tokens[-1]


# ---- .dockerignore -----------------------------------------------------------------------------------------

def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """Docker's pattern syntax (moby/patternmatcher): * and ? stay within a path segment, ** spans any."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            if pattern.startswith("**/", i):
                out, i = out + "(?:.*/)?", i + 3
            else:
                out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out, i = out + pattern[i:end + 1], end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(f"^{out}$")


@dataclass(frozen=True)
class DockerIgnore:
    rules: tuple[tuple[bool, re.Pattern[str]], ...]  # (negated, regex), in file order

    @classmethod
    def load(cls, path: Path) -> DockerIgnore:
        rules = []
        for raw in path.read_text().splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negated = line.startswith("!")
            pattern = line[1:].strip() if negated else line
            pattern = str(Path(pattern.lstrip("/")))  # Docker cleans patterns like filepath.Clean
            rules.append((negated, _pattern_regex(pattern)))
        return cls(tuple(rules))

    def excluded(self, relative: str) -> bool:
        """Whether the file or folder at ``relative`` (to the context) stays out of the build context: the
        last pattern matching it or one of its parent folders decides."""
        parts = Path(relative).parts
        candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
        result = False
        for negated, regex in self.rules:
            if any(regex.match(c) for c in candidates):
                result = not negated
        return result


# ---- The Envoy image ---------------------------------------------------------------------------------------

def envoy_config_stage_run(build_args: dict[str, str] | None = None) -> str:
    stage = parse_dockerfile(DOCKER / "envoy.Dockerfile").stage("config")
    run = next(i.value for i in stage.all("RUN") if "server.launch.render" in i.value)
    return substitute(run, {**stage.args(), **(build_args or {})})


def render_args_of_envoy_dockerfile(build_args: dict[str, str] | None = None) -> dict[str, str]:
    """The flags the envoy.Dockerfile passes to `python -m server.launch.render` (ARG defaults applied, then
    ``build_args`` as `docker build --build-arg` would)."""
    tokens = shlex.split(envoy_config_stage_run(build_args).split("python -m server.launch.render", 1)[1])
    return {tokens[i]: tokens[i + 1] for i in range(0, len(tokens) - 1, 2)}


def envoy_healthcheck_command() -> list[str]:
    value = parse_dockerfile(DOCKER / "envoy.Dockerfile").final.all("HEALTHCHECK")[-1].value
    command = json.loads(value[value.index("CMD") + 3:].strip())
    assert isinstance(command, list)
    return [str(c) for c in command]
