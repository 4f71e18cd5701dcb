"""``python -m bench.soak``: a long run against the real server, watching for leaks and lost records.

Starts ``python -m server`` as ``make run`` does (default settings; its own temporary SQLite prediction log and
spool, a free port), warms it up, then sends ``--requests`` predictions from ``--concurrency`` closed-loop
clients (grpc.aio on one event loop, like bench/loadgen.py): mostly DFDC face crops with ``is_face_crop``,
2.5% full-size photos (face detection) and 2.75% with Grad-CAM (``explain``). The server's resident memory is
sampled every ``--rss-interval`` seconds. After the load the server is stopped with SIGTERM (it flushes its
prediction log) and the records in the database are counted.

It prints a report and, with ``--write docs/soak.md``, saves it. Checks: no failed request, RSS growth from
after warm-up to the end under 10%, one prediction-log record per successful prediction. A report, never a
test: the numbers depend on the machine and on what else runs on it.

Shared with bench/overload.py: the RSS sampler, the payloads, the request sender and the report helpers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import shlex
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np
from deepfake.v1 import detector_pb2 as pb
from deepfake.v1 import detector_pb2_grpc as pb_grpc

from bench.process import Report, ServerProcess, face_crops, photos, quiet_machine
from server.app import MESSAGE_LIMIT

CHANNEL_OPTIONS = [("grpc.max_send_message_length", MESSAGE_LIMIT),
                   ("grpc.max_receive_message_length", MESSAGE_LIMIT)]


# ---------------------------------------------------------------------------------------------- memory


class RssSampler(threading.Thread):
    """The server's RSS every ``interval`` seconds, with a phase label, until stopped."""

    def __init__(self, server: ServerProcess, interval: float) -> None:
        super().__init__(daemon=True)
        self.server, self.interval = server, interval
        self.phase = "start"
        self.samples: list[tuple[float, str, float]] = []  # (seconds since start, phase, RSS MiB)
        self._halt = threading.Event()
        self._t0 = time.monotonic()

    def sample(self) -> float:
        rss, _ = self.server.rss_mib()
        self.samples.append((time.monotonic() - self._t0, self.phase, rss))
        return rss

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            with contextlib.suppress(FileNotFoundError, KeyError):  # the server is exiting
                self.sample()

    def stop(self) -> None:
        self._halt.set()
        self.join()

    def of(self, phase: str) -> list[float]:
        return [rss for _, p, rss in self.samples if p == phase]


# ---------------------------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class Spec:
    """One request to send: its kind (for the report) and the message."""

    kind: str
    request: pb.PredictRequest


@dataclass(frozen=True)
class Outcome:
    kind: str
    code: str  # gRPC status code name; "OK" for a prediction
    latency_ms: float
    retry_after: str = ""  # the refusal's retry-after trailer, if any


def soak_mix(crops: Sequence[bytes], full: Sequence[bytes]) -> Iterable[Spec]:
    """An endless, fixed mix: per 400 requests 380 face crops (10 of them with Grad-CAM), 9 full photos and
    1 full photo with Grad-CAM."""
    for i in itertools.count():
        if i % 400 == 200:
            yield Spec("photo+explain", pb.PredictRequest(image=full[i % len(full)], explain=True))
        elif i % 40 == 0:
            yield Spec("photo", pb.PredictRequest(image=full[i % len(full)], filename=f"photo-{i}.jpg"))
        elif i % 40 == 20:
            yield Spec("crop+explain", pb.PredictRequest(image=crops[i % len(crops)], is_face_crop=True,
                                                         explain=True))
        else:
            yield Spec("crop", pb.PredictRequest(image=crops[i % len(crops)], is_face_crop=True,
                                                 filename=f"crop-{i}.jpg"))


async def send(stub: pb_grpc.DeepfakeDetectorStub, spec: Spec, timeout: float = 120.0) -> Outcome:
    started = time.perf_counter()
    try:
        await stub.Predict(spec.request, timeout=timeout)
    except grpc.aio.AioRpcError as error:
        trailers = dict(error.trailing_metadata() or ())
        return Outcome(spec.kind, error.code().name, (time.perf_counter() - started) * 1000,
                       str(trailers.get("retry-after", "")))
    return Outcome(spec.kind, "OK", (time.perf_counter() - started) * 1000)


@contextlib.asynccontextmanager
async def connect(target: str) -> AsyncIterator[pb_grpc.DeepfakeDetectorStub]:
    async with grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS) as channel:
        yield pb_grpc.DeepfakeDetectorStub(channel)


async def closed_loop(stub: pb_grpc.DeepfakeDetectorStub, specs: Iterable[Spec], concurrency: int,
                      count: int | None = None, seconds: float | None = None,
                      progress: float = 0.0) -> tuple[list[Outcome], float]:
    """``concurrency`` clients sending back to back, until ``count`` requests were sent or ``seconds`` passed.
    Returns the outcomes and the elapsed seconds."""
    source = iter(specs) if count is None else itertools.islice(specs, count)
    outcomes: list[Outcome] = []
    started = time.perf_counter()
    stop_at = started + seconds if seconds is not None else float("inf")
    next_report = started + progress if progress else float("inf")

    async def client() -> None:
        nonlocal next_report
        for spec in source:  # one shared iterator: each spec is sent once
            outcomes.append(await send(stub, spec))
            now = time.perf_counter()
            if now >= next_report:
                next_report = now + progress
                errors = sum(o.code != "OK" for o in outcomes)
                print(f"  {now - started:6.0f} s: {len(outcomes)} requests, {errors} errors", flush=True)
            if now >= stop_at:
                return

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return outcomes, time.perf_counter() - started


def percentiles(values: Sequence[float], qs: Sequence[float] = (50, 95, 99)) -> list[float]:
    return [float(np.percentile(values, q)) for q in qs] if len(values) else [float("nan")] * len(qs)


def latency_rows(outcomes: Sequence[Outcome]) -> list[str]:
    """A markdown table of latency by kind (successful requests)."""
    rows = ["| requests | count | p50 ms | p95 ms | p99 ms | max ms |", "|---|---|---|---|---|---|"]
    kinds = sorted({o.kind for o in outcomes}, key=lambda k: -sum(o.kind == k for o in outcomes))
    for kind in ["all", *kinds]:
        values = [o.latency_ms for o in outcomes if o.code == "OK" and kind in ("all", o.kind)]
        if values:
            p50, p95, p99 = percentiles(values)
            rows.append(f"| {kind} | {len(values)} | {p50:.1f} | {p95:.1f} | {p99:.1f} | {max(values):.1f} |")
    return rows


def rss_timeline(samples: Sequence[tuple[float, str, float]], rows: int = 16) -> list[str]:
    """Evenly spaced RSS samples as a markdown table."""
    if not samples:
        return []
    step = max(1, len(samples) // rows)
    picked = list(samples[::step])
    if picked[-1] != samples[-1]:
        picked.append(samples[-1])
    lines = [f"| {t:.0f} | {p} | {rss:.0f} |" for t, p, rss in picked]
    return ["| time s | phase | RSS MiB |", "|---|---|---|", *lines]


def command_line(module: str) -> str:
    return " ".join(shlex.quote(a) for a in ["python", "-m", module, *sys.argv[1:]])


# ---------------------------------------------------------------------------------------------- the soak


async def soak(server: ServerProcess, sampler: RssSampler, requests: int, warmup: int, concurrency: int,
               ) -> tuple[list[Outcome], list[Outcome], float]:
    crops, full = face_crops(), photos()
    mix = soak_mix(crops, full)
    async with connect(server.target) as stub:
        warm, _ = await closed_loop(stub, mix, concurrency, count=warmup)
        await asyncio.sleep(2)  # let the batcher and the log writer settle before the baseline sample
        sampler.phase = "load"
        sampler.sample()
        print(f"warm-up: {len(warm)} requests; RSS {sampler.samples[-1][2]:.0f} MiB", flush=True)
        outcomes, seconds = await closed_loop(stub, mix, concurrency, count=requests, progress=30.0)
    return warm, outcomes, seconds


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20_000, help="requests after the warm-up")
    parser.add_argument("--warmup", type=int, default=800, help="requests before the baseline RSS sample")
    parser.add_argument("--concurrency", type=int, default=8, help="closed-loop clients (max-in-flight is 16)")
    parser.add_argument("--rss-interval", type=float, default=2.0, help="seconds between RSS samples")
    parser.add_argument("--write", type=Path, help="also write the report as markdown to this file")
    args = parser.parse_args(argv)
    started_at = quiet_machine()
    say = Report()

    with ServerProcess() as server:
        sampler = RssSampler(server, args.rss_interval)
        sampler.sample()
        sampler.start()
        warm, outcomes, seconds = asyncio.run(soak(server, sampler, args.requests, args.warmup, args.concurrency))
        sampler.phase = "end"
        end_rss = sampler.sample()
        sampler.stop()
        _, peak_rss = server.rss_mib()
        exit_code = server.stop()
        records = server.prediction_records()
        log_tail = server.log_path.read_text(errors="replace").splitlines()[-3:]

    ok = sum(o.code == "OK" for o in warm + outcomes)
    errors: dict[str, int] = {}
    for o in warm + outcomes:
        if o.code != "OK":
            errors[o.code] = errors.get(o.code, 0) + 1
    load = [rss for _, phase, rss in sampler.samples if phase in ("load", "end")]
    start_rss, max_rss = load[0], max(load)
    growth = (end_rss - start_rss) / start_rss * 100
    kinds = {kind: sum(o.kind == kind for o in outcomes) for kind in sorted({o.kind for o in outcomes})}

    say("# Soak test")
    say()
    say(f"Command: `{command_line('bench.soak')}` (the server: `python -m server` with default settings, a "
        f"temporary SQLite prediction log, `--metrics-port 0`). Machine: {started_at}. The load generator runs on "
        "the same cores.")
    say()
    say(f"- requests: {len(outcomes)} after a warm-up of {len(warm)}, from {args.concurrency} closed-loop gRPC "
        f"clients; mix: " + ", ".join(f"{n} {k}" for k, n in kinds.items()))
    say(f"- errors: {sum(errors.values())} {errors if errors else ''}".rstrip())
    say(f"- duration {seconds:.0f} s, throughput {len(outcomes) / seconds:.1f} requests/s")
    say(f"- server RSS: {start_rss:.0f} MiB after warm-up, {end_rss:.0f} MiB at the end, {max_rss:.0f} MiB at most "
        f"(sampled every {args.rss_interval:g} s; VmHWM {peak_rss:.0f} MiB); growth {growth:+.1f}%")
    say(f"- load average (1, 5, 15 min) at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (other work "
        "shares these 2 cores)")
    say(f"- prediction log: {records} records in the database for {ok} successful predictions (warm-up "
        f"included); the server exited with code {exit_code} after SIGTERM")
    say()
    say("Latency of successful requests (client side, ms):")
    say()
    for row in latency_rows(outcomes):
        say(row)
    say()
    say("Server RSS over time:")
    say()
    for row in rss_timeline(sampler.samples):
        say(row)
    say()
    checks = [
        ("no failed request", not errors, f"{sum(errors.values())} errors"),
        ("RSS growth after warm-up < 10%", growth < 10, f"{growth:+.1f}%"),
        ("one prediction-log record per successful prediction", records == ok, f"{records} records, {ok} OK"),
        (">= 20,000 requests", len(outcomes) >= 20_000, f"{len(outcomes)}"),
    ]
    say("Checks:")
    say()
    for name, passed, detail in checks:
        say(f"- [{'PASS' if passed else 'FAIL'}] {name}: {detail}")
    say()
    say("Last lines of the server's log:")
    say()
    say("```")
    for line in log_tail:
        say(line)
    say("```")
    if args.write:
        args.write.write_text(say.text)
    return 0 if all(passed for _, passed, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
