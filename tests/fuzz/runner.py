"""What the harnesses share: start libFuzzer (through atheris) on a seed corpus generated in code.

``python -m tests.fuzz.fuzz_<name> [libFuzzer flags] [corpus folders or crash files]``: every corpus folder
named is created if needed and (re)seeded on start; without one, the corpus is ``build/fuzz/<name>/``
(git-ignored), kept between runs, so longer runs build on what earlier ones found. Useful flags:
``-max_total_time=600`` (seconds), ``-runs=N``, ``-seed=N``, ``-artifact_prefix=DIR/`` (where crash-* inputs
go), ``-print_final_stats=1``.
Passing a crash file instead of a folder re-runs just that input.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

import atheris

from tests.fuzz.seeds import REPO, write_corpus


def run(name: str, test_one_input: Callable[[bytes], None], seeds: Callable[[], Iterable[bytes]],
        argv: list[str] | None = None) -> None:
    """Seed the corpus (unless inputs were named) and fuzz until libFuzzer stops; never returns."""
    argv = list(sys.argv if argv is None else argv)
    # Malformed images make PIL warn (corrupt EXIF, decompression bomb): expected here, and noise in the log.
    warnings.simplefilter("ignore")
    inputs = [arg for arg in argv[1:] if not arg.startswith("-")]
    if not inputs:
        inputs = [str(REPO / "build" / "fuzz" / name)]
        argv.append(inputs[0])
    for path in map(Path, inputs):
        if not path.is_file():  # a corpus folder (a file is one input to re-run)
            write_corpus(path, iter(seeds()))
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()


def is_user_message(message: str) -> bool:
    """A sentence for a user: capitalised, ends with a full stop, no exception text or paths."""
    leaks = ("Traceback", "Error", "errno", ".py", "site-packages", "/work", "PIL")
    return bool(message) and message[0].isupper() and message.endswith(".") and not any(x in message for x in leaks)

