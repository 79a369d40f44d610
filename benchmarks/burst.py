"""Burst load test: K learners open /Train at the same instant, then all press Start, beside two runs training.

The arrival ramp of a workshop in miniature, repeated: each burst opens K fresh sessions at once
(page-load latency, and the burst's makespan: from the first request to the last page drawn),
then every one presses Start at once (click -> its script_finished). Two learners' runs train
during each burst, as in a room. With two or more `--app-dir`s, their servers run side by side
and take turns burst by burst (A B, B A, ...), so a slow minute of the machine hits both, and
the ratio of each to the first is reported per burst pair: the way to A/B a change here, where
one whole workshop run's p95 varies ~2x from run to run of the same code.

    python -m benchmarks.burst --app-dir /tmp/old --app-dir . --bursts 10

The last line of output is the whole result as one JSON object.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.st_client import Session
from benchmarks.workshop import ROOT, first_load, server

QUERY = "steps=50000"
MEASURES = ("load_makespan_s", "load_mean_s", "start_makespan_s", "start_mean_s")


async def _start(s: Session) -> float:
    t0 = time.monotonic()
    if not await s.click("Start"):
        raise RuntimeError("no enabled Start button on a fresh /Train page")
    if not await s.wait_idle(120):
        raise RuntimeError("a Start click was not answered within 120 s")
    return time.monotonic() - t0


async def burst(url: str, k: int, trainers: int = 2) -> dict:
    """One burst on the server at `url`: k loads at once, then k Starts at once (seconds)."""
    running = [Session(url, "Train", QUERY) for _ in range(trainers)]
    for s in running:                              # one after another, each training before the next
        await s.open()
        await _start(s)
    await asyncio.sleep(1.5)                       # the trainers past their first steps
    sessions = [Session(url, "Train", QUERY) for _ in range(k)]
    t0 = time.monotonic()
    loads = await asyncio.gather(*(s.open() for s in sessions))
    load_span = time.monotonic() - t0
    t1 = time.monotonic()
    starts = await asyncio.gather(*(_start(s) for s in sessions))
    start_span = time.monotonic() - t1
    for s in sessions + running:
        await s.click("Stop")
        await s.close()
    return {"load_makespan_s": load_span, "load_mean_s": statistics.mean(loads),
            "start_makespan_s": start_span, "start_mean_s": statistics.mean(starts)}


def compare(results: dict[str, list[dict]]) -> dict:
    """Per app dir after the first: median over bursts of (its measure / the first's), and in
    how many bursts it was lower."""
    names = list(results)
    out = {}
    for name in names[1:]:
        pairs = list(zip(results[names[0]], results[name]))
        out[name] = {m: {"median_ratio": round(statistics.median(b[m] / a[m] for a, b in pairs), 3),
                         "lower_in": f"{sum(b[m] < a[m] for a, b in pairs)}/{len(pairs)}"} for m in MEASURES}
    return out


def summary(results: dict[str, list[dict]]) -> dict:
    return {name: {m: round(statistics.median(r[m] for r in rs), 3) for m in MEASURES} for name, rs in results.items()}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--app-dir", type=Path, action="append", help="a checkout to serve (repeat to compare; default: this one)")
    ap.add_argument("--learners", type=int, default=12, help="sessions in each burst")
    ap.add_argument("--bursts", type=int, default=10, help="bursts per app dir")
    ap.add_argument("--trainers", type=int, default=2, help="runs training during each burst")
    args = ap.parse_args(argv)
    dirs = [d.resolve() for d in (args.app_dir or [ROOT])]
    env = ["PLAYGROUND_MAX_ACTIVE_PER_CLIENT=1000"]      # every learner here is 127.0.0.1
    with contextlib.ExitStack() as stack:
        urls = [stack.enter_context(server(env, Path(tempfile.mkstemp(prefix="burst-server-", suffix=".log")[1]), d))[0]
                for d in dirs]
        for url in urls:                           # imports and the corpus cache, before any burst
            asyncio.run(first_load(url, QUERY))
        time.sleep(10)                             # the background warm-up (torch's first optimizer)
        names = [f"{i}:{d}" for i, d in enumerate(dirs)]      # the same dir may be given twice
        results: dict[str, list[dict]] = {name: [] for name in names}
        for i in range(args.bursts):
            order = list(zip(names, urls))
            for name, url in order if i % 2 == 0 else order[::-1]:
                results[name].append(asyncio.run(burst(url, args.learners, args.trainers)))
                time.sleep(1)
    out = {"learners": args.learners, "bursts": args.bursts, "trainers": args.trainers,
           "median_s": summary(results), "vs_first": compare(results)}
    for name, s in out["median_s"].items():
        print(f"{name}: " + ", ".join(f"{m} {v}" for m, v in s.items()) + f" (medians of {args.bursts})")
    for name, c in out["vs_first"].items():
        print(f"  {name} / {names[0]}: " + ", ".join(f"{m} x{v['median_ratio']} (lower in {v['lower_in']})"
                                                    for m, v in c.items()))
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
