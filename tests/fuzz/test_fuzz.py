"""Short, bounded runs of the fuzz harnesses (each in its own process: atheris instruments imports and hands
the process to libFuzzer). Longer runs: see the harnesses' docstrings."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fuzz.seeds import REPO

RUNS = 10_000  # about 5 s per harness here; libFuzzer stops earlier at max_total_time

def fuzz(name: str, tmp_path: Path, runs: int = RUNS) -> tuple[int, str]:
    command = [sys.executable, "-m", f"tests.fuzz.fuzz_{name}", f"-runs={runs}", "-seed=1", "-max_total_time=25",
               "-timeout=10", "-print_final_stats=1", f"-artifact_prefix={tmp_path}/", str(tmp_path / "corpus")]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    return done.returncode, done.stdout + done.stderr


def summary(output: str) -> dict[str, int]:
    """Executions and coverage from libFuzzer's closing lines (cov: edges, ft: features)."""
    numbers: dict[str, int] = {}
    if match := re.search(r"stat::number_of_executed_units:\s*(\d+)", output):
        numbers["runs"] = int(match.group(1))
    for key in ("cov", "ft"):
        if found := re.findall(rf"\b{key}: (\d+)", output):
            numbers[key] = int(found[-1])
    return numbers


@pytest.mark.slow
@pytest.mark.parametrize(("name", "min_cov"), [("decode", 500), ("upload", 150)])
def test_fuzz_harness_finds_nothing(name: str, min_cov: int, tmp_path: Path,
                                    record_property: pytest.RecordProperty) -> None:
    code, output = fuzz(name, tmp_path)
    numbers = summary(output)
    record_property("fuzz", numbers)
    print(f"{name}: {numbers}")
    if code != 0:
        tail = "\n".join(line for line in output.splitlines() if not line.startswith("INFO: Instrumenting"))[-4000:]
        crashes = sorted(p.name for p in tmp_path.glob("crash-*"))
        pytest.fail(f"fuzz_{name} found a contract violation (inputs: {crashes}):\n{tail}")
    assert numbers.get("runs", 0) >= 1000, output[-2000:]
    assert numbers.get("cov", 0) >= min_cov, f"instrumentation seems off: {numbers}"


def test_seed_corpora_are_generated_from_real_images() -> None:
    from tests.fuzz.seeds import image_seeds, shared_data_root, upload_seeds

    images, uploads = list(image_seeds()), list(upload_seeds())
    assert shared_data_root() is not None, "the shared photos are expected here"
    assert len(images) > 40 and len(uploads) > 10
    assert all(len(seed) < 64 * 1024 for seed in images + uploads), "seeds stay small so fuzzing stays fast"
