"""``python -m bench.overload``: what admission control does at twice the server's capacity.

1. Capacity: ``--concurrency`` (16, the server's ``--max-in-flight``) closed-loop clients send DFDC face crops
   (``is_face_crop``) for ``--baseline-seconds``; their throughput is the capacity, their latency the
   non-overloaded baseline.
2. Overload: an open-loop Poisson arrival process at ``--factor`` (2) times that capacity for
   ``--overload-seconds``. Open loop because that is what overload is: arrivals do not slow down when the
   server does (users, other services, retries elsewhere), so the server must refuse the excess. A closed loop
   of 64 clients would not overload it the same way: each client waits for its answer, and a refused client
   comes straight back, so the offered load depends on how fast the server refuses instead of on a rate.
   Refused requests (RESOURCE_EXHAUSTED with ``retry-after``) are counted, not retried.
3. Recovery: the closed loop of phase 1 again for ``--recovery-seconds``.

The server's RSS is sampled throughout. Reported: admitted requests' p50/p95/p99 next to the baseline's, the
share refused, other errors, RSS by phase. ``--write docs/overload.md`` saves the report. A report, never a
test: the numbers depend on the machine and on what else runs on it (the load generator shares its cores).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from deepfake.v1 import detector_pb2 as pb
from deepfake.v1 import detector_pb2_grpc as pb_grpc

from bench.process import Report, ServerProcess, face_crops, quiet_machine
from bench.soak import (
    Outcome,
    RssSampler,
    Spec,
    closed_loop,
    command_line,
    connect,
    latency_rows,
    percentiles,
    rss_timeline,
    send,
)


def crops_forever(crops: Sequence[bytes]) -> Iterable[Spec]:
    for i in itertools.count():
        yield Spec("crop", pb.PredictRequest(image=crops[i % len(crops)], is_face_crop=True))


async def open_loop(stub: pb_grpc.DeepfakeDetectorStub, specs: Iterable[Spec], rate: float, seconds: float,
                    seed: int = 0) -> tuple[list[Outcome], float]:
    """Poisson arrivals at ``rate`` per second for ``seconds``, each request sent whatever the others do.
    Returns the outcomes and the achieved arrival rate."""
    rng = random.Random(seed)
    loop = asyncio.get_running_loop()
    tasks: list[asyncio.Task[Outcome]] = []
    source = iter(specs)
    start = loop.time()
    due = start
    while True:
        due += rng.expovariate(rate)
        if due - start > seconds:
            break
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send(stub, next(source), timeout=60)))
    sent_for = loop.time() - start
    outcomes = list(await asyncio.gather(*tasks))
    return outcomes, len(tasks) / sent_for


def summary(outcomes: Sequence[Outcome]) -> dict[str, int]:
    codes: dict[str, int] = {}
    for o in outcomes:
        codes[o.code] = codes.get(o.code, 0) + 1
    return codes


async def run(server: ServerProcess, sampler: RssSampler, args: argparse.Namespace,
              ) -> dict[str, tuple[list[Outcome], float, float]]:
    """Outcomes, seconds and throughput (or arrival rate) by phase."""
    specs = crops_forever(face_crops())
    phases: dict[str, tuple[list[Outcome], float, float]] = {}
    async with connect(server.target) as stub:
        await closed_loop(stub, specs, args.concurrency, count=200)  # warm-up
        sampler.phase = "baseline"
        sampler.sample()
        outcomes, seconds = await closed_loop(stub, specs, args.concurrency, seconds=args.baseline_seconds)
        capacity = sum(o.code == "OK" for o in outcomes) / seconds
        phases["baseline"] = (outcomes, seconds, capacity)
        print(f"capacity at c={args.concurrency}: {capacity:.1f} requests/s", flush=True)

        sampler.phase = "overload"
        sampler.sample()
        rate = args.factor * capacity
        outcomes, achieved = await open_loop(stub, specs, rate, args.overload_seconds)
        phases["overload"] = (outcomes, args.overload_seconds, achieved)
        print(f"overload: offered {rate:.1f}/s, sent {achieved:.1f}/s, {summary(outcomes)}", flush=True)

        sampler.phase = "recovery"
        sampler.sample()
        outcomes, seconds = await closed_loop(stub, specs, args.concurrency, seconds=args.recovery_seconds)
        phases["recovery"] = (outcomes, seconds, sum(o.code == "OK" for o in outcomes) / seconds)
        sampler.phase = "end"
        sampler.sample()
    return phases


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.overload", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", type=int, default=16, help="closed-loop clients measuring capacity")
    parser.add_argument("--factor", type=float, default=2.0, help="offered load as a multiple of capacity")
    parser.add_argument("--baseline-seconds", type=float, default=40.0)
    parser.add_argument("--overload-seconds", type=float, default=90.0)
    parser.add_argument("--recovery-seconds", type=float, default=20.0)
    parser.add_argument("--rss-interval", type=float, default=2.0, help="seconds between RSS samples")
    parser.add_argument("--write", type=Path, help="also write the report as markdown to this file")
    args = parser.parse_args(argv)
    started_at = quiet_machine()
    say = Report()

    with ServerProcess() as server:
        sampler = RssSampler(server, args.rss_interval)
        sampler.sample()
        sampler.start()
        phases = asyncio.run(run(server, sampler, args))
        sampler.stop()
        _, peak = server.rss_mib()
        server.stop()

    base, base_s, capacity = phases["baseline"]
    over, over_s, offered = phases["overload"]
    recovery, recovery_s, recovery_rate = phases["recovery"]
    base_p50, base_p95, base_p99 = percentiles([o.latency_ms for o in base if o.code == "OK"])
    admitted = [o for o in over if o.code == "OK"]
    refused = [o for o in over if o.code == "RESOURCE_EXHAUSTED"]
    p50, p95, p99 = percentiles([o.latency_ms for o in admitted])
    refusal_ms = percentiles([o.latency_ms for o in refused])
    others = {code: n for code, n in summary(over + base + recovery).items()
              if code not in ("OK", "RESOURCE_EXHAUSTED")}
    with_retry_after = sum(o.retry_after == "1" for o in refused)
    rss = {phase: sampler.of(phase) for phase in ("baseline", "overload", "recovery", "end")}
    over_rss = rss["overload"]
    first_half, second_half = over_rss[: len(over_rss) // 2], over_rss[len(over_rss) // 2:]
    rss_trend = (max(second_half) - max(first_half)) if first_half and second_half else float("nan")

    say("# Overload test")
    say()
    say(f"Command: `{command_line('bench.overload')}` (the server: `python -m server` with default settings, so "
        f"`--max-in-flight 16`; a temporary SQLite prediction log). Machine: {started_at}. The load generator "
        "(grpc.aio, one event loop) runs on the same cores as the server.")
    say()
    say("Requests are DFDC face crops with `is_face_crop` (no face detection), so every admitted request costs "
        "the same. Phases:")
    say()
    say(f"1. capacity: {args.concurrency} closed-loop clients for {base_s:.0f} s;")
    say(f"2. overload: open-loop Poisson arrivals at {args.factor:g}x that capacity for {over_s:.0f} s (refused "
        "requests are counted, not retried). Open loop because arrivals in a real overload do not wait for the "
        "server; a closed loop of 64 clients would re-send the moment a refusal came back, so its offered load "
        "would follow the refusal speed rather than a rate;")
    say(f"3. recovery: the closed loop of phase 1 again for {recovery_s:.0f} s.")
    say()
    say("| phase | offered | completed | refused (RESOURCE_EXHAUSTED) | p50 ms | p95 ms | p99 ms |")
    say("|---|---|---|---|---|---|---|")
    say(f"| capacity, c={args.concurrency} | closed loop | {len(base)} ({capacity:.1f}/s) | "
        f"{sum(o.code == 'RESOURCE_EXHAUSTED' for o in base)} | {base_p50:.1f} | {base_p95:.1f} | {base_p99:.1f} |")
    say(f"| overload, {args.factor:g}x | {offered:.1f}/s | {len(admitted)} ({len(admitted) / over_s:.1f}/s) | "
        f"{len(refused)} ({len(refused) / max(1, len(over)):.0%}) | {p50:.1f} | {p95:.1f} | {p99:.1f} |")
    rec = percentiles([o.latency_ms for o in recovery if o.code == "OK"])
    say(f"| recovery, c={args.concurrency} | closed loop | {len(recovery)} ({recovery_rate:.1f}/s) | "
        f"{sum(o.code == 'RESOURCE_EXHAUSTED' for o in recovery)} | {rec[0]:.1f} | {rec[1]:.1f} | {rec[2]:.1f} |")
    say()
    say(f"- Admitted requests under overload: p99 {p99:.1f} ms = {p99 / base_p99:.2f}x the non-overloaded p99 "
        f"({base_p99:.1f} ms); p50 {p50 / base_p50:.2f}x.")
    say(f"- Refusals: {len(refused)} of {len(over)} ({len(refused) / max(1, len(over)):.0%}; the share beyond "
        f"capacity at {args.factor:g}x would be {1 - 1 / args.factor:.0%}), answered in p50 {refusal_ms[0]:.1f} ms / "
        f"p99 {refusal_ms[2]:.1f} ms, {with_retry_after} of them with `retry-after: 1`.")
    goodput = len(admitted) / over_s
    say(f"- Goodput under overload: {goodput:.1f} predictions/s = {goodput / capacity:.0%} of capacity "
        "(refusing costs CPU too, and the load generator shares the server's 2 cores; so the refused "
        "share is a little over the ideal).")
    say(f"- Other errors: {sum(others.values())} {others if others else ''}".rstrip())
    say(f"- Server RSS: {rss['baseline'][0]:.0f} MiB at the start of phase 1, max {max(rss['baseline']):.0f} MiB in "
        f"phase 1, max {max(over_rss):.0f} MiB under overload (first half {max(first_half):.0f}, second half "
        f"{max(second_half):.0f} MiB), {rss['end'][-1]:.0f} MiB at the end; VmHWM {peak:.0f} MiB.")
    say(f"- Load average (1, 5, 15 min) at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (other work "
        "shares these 2 cores).")
    say()
    say("Admitted-request latency by phase (client side):")
    say()
    for phase, (outcomes, _, _) in phases.items():
        say(f"{phase}:")
        say()
        for row in latency_rows(outcomes):
            say(row)
        say()
    say("Server RSS over time:")
    say()
    for row in rss_timeline(sampler.samples, rows=20):
        say(row)
    say()
    checks = [
        ("admitted p99 under overload <= 2x the non-overloaded p99", p99 <= 2 * base_p99,
         f"{p99:.1f} vs 2 x {base_p99:.1f} ms"),
        ("the excess is refused with RESOURCE_EXHAUSTED and retry-after", bool(refused)
         and with_retry_after == len(refused), f"{len(refused)} refused, {with_retry_after} with retry-after"),
        ("no other errors", not others, f"{others}"),
        ("RSS does not grow under overload (second half vs first half <= 2%)",
         rss_trend <= 0.02 * max(first_half), f"{rss_trend:+.0f} MiB"),
        ("recovery: throughput back to >= 90% of capacity", recovery_rate >= 0.9 * capacity,
         f"{recovery_rate:.1f} vs {capacity:.1f}/s"),
    ]
    say("Checks:")
    say()
    for name, passed, detail in checks:
        say(f"- [{'PASS' if passed else 'FAIL'}] {name}: {detail}")
    if args.write:
        args.write.write_text(say.text)
    return 0 if all(passed for _, passed, _ in checks) else 1


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    sys.exit(main())
