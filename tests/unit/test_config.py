from __future__ import annotations

from pathlib import Path

import pytest

from server.config import Config, load_config


def test_defaults() -> None:
    config = load_config([], environ={})
    assert config == Config()
    assert config.max_image_bytes == 10 * 1024 * 1024 and config.address == "127.0.0.1:50051"


def test_environment_then_flags() -> None:
    env = {"DEEPFAKE_PORT": "6000", "DEEPFAKE_ENGINE": "eager", "DEEPFAKE_WEIGHTS": "/models/x"}
    config = load_config(["--port", "7000"], environ=env)
    assert config.port == 7000 and config.engine == "eager" and config.weights == Path("/models/x")


@pytest.mark.parametrize(("argv", "message"), [
    (["--port", "abc"], "port: expected int"),
    (["--port", "70000"], "out of range"),
    (["--engine", "onnx"], "engine 'onnx'"),
    (["--max-image-mb", "0"], "must be positive"),
    (["--log-format", "xml"], "log_format"),
])
def test_bad_values_are_reported(argv: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_config(argv, environ={})


def test_help_names_the_environment_variables(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        load_config(["--help"], environ={})
    assert "DEEPFAKE_MAX_IMAGE_MB" in capsys.readouterr().out


def test_every_engine_the_server_has_can_be_configured() -> None:
    from server.config import ENGINE_NAMES
    from server.engine import ENGINES

    assert set(ENGINE_NAMES) == set(ENGINES)
