"""Fair turns cost no throughput: aggregate tokens/s of N runs taking turns on W trainer threads
vs W runs alone on them (same config, same process, one run after the other).

    python -m benchmarks.scheduler_throughput --runs 30 --seconds 20

Prints both rates, their ratio (target >= 0.90) and each run's share of the steps.
"""
from __future__ import annotations

import argparse
import time

from playground import corpora
from playground.config import ModelConfig, TrainConfig
from playground.limits import Limits
from playground.runner import RunRegistry


def aggregate_tokens_per_s(n_runs: int, workers: int, seconds: float, text: str) -> tuple[float, list[int]]:
    reg = RunRegistry(limits=Limits(max_concurrent=workers, max_runs_per_learner=10_000))
    tc = TrainConfig()
    runs = [reg.create(ModelConfig(), tc, text, owner="bench") for _ in range(n_runs)]
    for run in runs:
        run.update_settings(sample_every=10**9, eval_every=10**9)   # training steps only
        run.start(10**7)
    time.sleep(2.0)                                                # every run has had turns
    before, t0 = [r.steps_done for r in runs], time.monotonic()
    time.sleep(seconds)
    after, dt = [r.steps_done for r in runs], time.monotonic() - t0
    for run in runs:
        run.stop()
    while reg.scheduler.active_jobs():
        time.sleep(0.05)
    steps = [a - b for a, b in zip(after, before)]
    return sum(steps) * tc.batch_size * tc.seq_len / dt, steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=20.0)
    args = ap.parse_args()
    text = corpora.load("brackets")
    alone, _ = aggregate_tokens_per_s(args.workers, args.workers, args.seconds, text)
    shared, steps = aggregate_tokens_per_s(args.runs, args.workers, args.seconds, text)
    print(f"{args.workers} runs alone on {args.workers} trainer threads: {alone:,.0f} tokens/s")
    print(f"{args.runs} runs taking turns on {args.workers} threads:  {shared:,.0f} tokens/s")
    print(f"ratio {shared / alone:.3f} (target >= 0.90); steps per run in {args.seconds:g} s: "
          f"min {min(steps)}, max {max(steps)}, every run moved: {min(steps) > 0}")


if __name__ == "__main__":
    main()
