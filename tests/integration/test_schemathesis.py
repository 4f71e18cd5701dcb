"""schemathesis (pinned in requirements-dev.txt) against docs/openapi.yaml, through the real Envoy in front of
the real server.

Every documented operation gets generated requests: the document's examples, schemathesis' coverage phase
(boundary and invalid values), then up to MAX_EXAMPLES random ones. Every answer must not be a 5xx, and must
have a documented status code, content type and headers and match the documented schema. The binary request
bodies (the multipart ``file``, the raw upload, the JSON ``image`` in base64) are real small images about
half the time (DFDC face crops, a shrunk group photo, PNG and WebP versions), so the success paths run too,
and random bytes the rest of the time; ids from earlier answers are reused for ``/v1/predictions/{id}``.

schemathesis runs as its CLI in a subprocess (its pytest plugin does not work with pytest 9.2), with this
module as its hooks module: imported there with DEEPFAKE_SCHEMATHESIS_IMAGES set, it registers the image
strategies. Bounded: a fixed seed, MAX_EXAMPLES per operation, RATE requests/s (under Envoy's per-client
limit of 20/s, so the answers are the service's, not the rate limiter's); about a minute here.

Any failure fails the test; a 500's message is shown with the server's traceback (matched by request id).
"""

from __future__ import annotations

import base64
import io
import logging
import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from PIL import Image

from tests.integration.served_metrics import request_counts

if TYPE_CHECKING:
    from server.app import RunningServer
    from tests.integration.gateway import Envoy

REPO = Path(__file__).resolve().parents[2]
OPENAPI = REPO / "docs" / "openapi.yaml"
IMAGES_ENV = "DEEPFAKE_SCHEMATHESIS_IMAGES"
MAX_EXAMPLES = 50
RATE = "15/s"
SEED = 20240601
CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_schema_conformance", "response_headers_conformance")


# ---------------------------------------------------------------------------------------------- hooks


def register_image_strategies(folder: Path) -> None:
    """Request-body strategies: a real image from ``folder`` or random bytes, about half and half."""
    import schemathesis
    from hypothesis import strategies as st

    images = [p.read_bytes() for p in sorted(folder.iterdir())]
    image_or_noise = st.one_of(st.sampled_from(images), st.binary(max_size=4096))
    for media_type in ("image/jpeg", "image/png", "image/webp", "application/octet-stream"):
        schemathesis.openapi.media_type(media_type, image_or_noise)
    schemathesis.openapi.format("binary", image_or_noise)  # the multipart form's file part
    schemathesis.openapi.format("byte", image_or_noise.map(lambda b: base64.b64encode(b).decode()))  # JSON route


if os.environ.get(IMAGES_ENV):  # imported by the schemathesis CLI as its hooks module
    register_image_strategies(Path(os.environ[IMAGES_ENV]))


# ---------------------------------------------------------------------------------------------- the run


def write_real_images(folder: Path, photos_dir: Path, dfdc_dir: Path) -> None:
    """Small real images in the three accepted formats: face crops, a group photo shrunk to 480 px, and the
    crop shrunk to 16 x 16 and 1 x 1 pixels (valid images the document accepts like any other)."""
    folder.mkdir()
    crops = sorted((dfdc_dir / "real").glob("*.jpg"))[:3] + sorted((dfdc_dir / "fake").glob("*.jpg"))[:2]
    for index, path in enumerate(crops):
        (folder / f"crop-{index}.jpg").write_bytes(path.read_bytes())
    group = Image.open(photos_dir / "multiface.jpg").convert("RGB")
    group.thumbnail((480, 480))
    crop = Image.open(crops[0]).convert("RGB")
    others = [(group, "JPEG"), (crop, "PNG"), (Image.open(crops[1]).convert("RGB"), "WEBP"),
              (crop.resize((16, 16)), "PNG"), (crop.resize((1, 1)), "JPEG")]
    for index, (image, fmt) in enumerate(others):
        buffer = io.BytesIO()
        image.save(buffer, fmt)
        (folder / f"other-{index}.{fmt.lower()}").write_bytes(buffer.getvalue())


def config_toml(base_url: str) -> str:
    checks = "\n".join(f"[checks.{name}]\nenabled = true" for name in CHECKS)
    phases = "\n".join(f"[phases.{name}]\nenabled = true\nextra-data-sources.responses = true"
                       for name in ("examples", "coverage", "fuzzing"))
    return f"""base-url = "{base_url}"
seed = {SEED}
rate-limit = "{RATE}"
request-timeout = 60
workers = 1

[generation]
max-examples = {MAX_EXAMPLES}
database = "none"

[checks]
enabled = false
{checks}

{phases}
[phases.stateful]
enabled = false
"""


class ServerTracebacks(logging.Handler):
    """The in-process server's unhandled-error tracebacks, by request id."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.by_request: dict[str, str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        from server.logs import request_id_var

        if record.exc_info:
            self.by_request[request_id_var.get()] = logging.Formatter().formatException(record.exc_info)


def settle(gateway: Envoy) -> None:
    """Leave the shared gateway's per-client token bucket full again for the modules that run after this one."""
    time.sleep(gateway.settings.rate_limit_burst / gateway.settings.rate_limit_rps)


def ok_predictions(served: RunningServer) -> dict[str, float]:
    return {method: count for (method, code), count in request_counts(served).items() if code == "OK"}


def junit_failures(report_dir: Path) -> list[tuple[str, str]]:
    failures = []
    for report in report_dir.glob("junit*.xml"):
        for case in ET.parse(report).iter("testcase"):
            for child in case:
                if child.tag in ("failure", "error"):
                    failures.append((case.get("name", ""), child.text or child.get("message") or ""))
    return failures


@pytest.mark.slow
def test_rest_api_conforms_to_the_openapi_document(gateway: Envoy, served: RunningServer, photos_dir: Path,
                                                   dfdc_dir: Path, tmp_path: Path) -> None:
    write_real_images(tmp_path / "images", photos_dir, dfdc_dir)
    (tmp_path / "schemathesis.toml").write_text(config_toml(gateway.url))
    env = {**os.environ, IMAGES_ENV: str(tmp_path / "images"), "SCHEMATHESIS_HOOKS": __name__,
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    command = [str(Path(sys.executable).with_name("schemathesis")), "--config-file",
               str(tmp_path / "schemathesis.toml"), "--no-color", "run", str(OPENAPI),
               "--report", "junit", "--report-dir", str(tmp_path / "report")]
    tracebacks = ServerTracebacks()
    logging.getLogger("server.access").addHandler(tracebacks)
    before = ok_predictions(served)
    try:
        done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
                              check=False)
    finally:
        logging.getLogger("server.access").removeHandler(tracebacks)
        settle(gateway)
    output = done.stdout + done.stderr
    summary = output[output.find("=== WARNINGS") if "=== WARNINGS" in output else output.find("=== SUMMARY"):]
    print(summary)
    after = ok_predictions(served)
    served_ok = {method: after.get(method, 0) - before.get(method, 0) for method in ("Predict", "PredictUpload")}
    print(f"successful predictions during the run: {served_ok}")

    assert "Test cases:" in output, output[-3000:]
    if done.returncode != 0:
        failures = junit_failures(tmp_path / "report")
        report = []
        for operation, text in failures:
            server_side = [tracebacks.by_request.get(request_id, "")
                           for request_id in re.findall(r"Please report request id ([0-9a-f-]+)", text)]
            report.append(f"{operation}:\n{text[:3000]}\n" + "\n".join(filter(None, server_side))[:3000])
        pytest.fail("schemathesis failures:\n" + "\n\n".join(report or [output[-5000:]]) + f"\n\n{summary}")
    # The success paths ran too (real images about half the time).
    assert served_ok["PredictUpload"] >= 10 and served_ok["Predict"] >= 5, served_ok
