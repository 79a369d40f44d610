"""Ten links from one person vs one learner (issue 19, item 5): the learner's steps/min alone,
then next to one person's ten runs when every run took its own turn (each run its own client:
the old scheduler's round-robin over runs), and now (the ten runs are one client's).

    python -m benchmarks.fair_share --workers 1 --seconds 10

Reports ratios against the learner alone, measured in the same process one after the other.
"""
from __future__ import annotations

import argparse
import time

from playground import corpora
from playground.config import ModelConfig, TrainConfig
from playground.limits import Limits
from playground.registry import RunRegistry
from playground.scheduler import Scheduler

MC = ModelConfig(cell="LSTM", hidden_size=64, embedding_dim=16)
TC = TrainConfig(seq_len=32, batch_size=16)


def learner_rate(text: str, workers: int, seconds: float, hog_clients: list[str]) -> tuple[float, float]:
    """(The learner's steps/min, its part of all steps taken) while runs for `hog_clients` (one run
    each) train too."""
    reg = RunRegistry(limits=Limits(max_active_per_client=100, max_runs_per_learner=100),
                      scheduler=Scheduler(max_workers=workers))
    hogs = [reg.create(MC, TC, text, f"hog-link-{i:02d}-0123456789", client=c) for i, c in enumerate(hog_clients)]
    learner = reg.create(MC, TC, text, "learner-link-0123456789", client="ip:10.0.0.2")
    for run in hogs + [learner]:
        run.update_settings(sample_every=10**9, eval_every=10**9)
        reg.start(run, 10**7)
    time.sleep(2.0)
    everyone = hogs + [learner]
    s0, all0, t0 = learner.steps_done, sum(r.steps_done for r in everyone), time.monotonic()
    time.sleep(seconds)
    mine, total = learner.steps_done - s0, sum(r.steps_done for r in everyone) - all0
    rate = 60 * mine / (time.monotonic() - t0)
    for run in hogs + [learner]:
        run.stop()
    for run in hogs + [learner]:
        run.join(30)
    return rate, mine / max(total, 1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--links", type=int, default=10)
    args = ap.parse_args()
    text = corpora.load("brackets", 60_000)
    alone = learner_rate(text, args.workers, args.seconds, [])[0]
    per_run, part_before = learner_rate(text, args.workers, args.seconds, [f"ip:10.0.1.{i}" for i in range(args.links)])
    per_person, part_now = learner_rate(text, args.workers, args.seconds, ["ip:10.0.0.1"] * args.links)
    alone = (alone + learner_rate(text, args.workers, args.seconds, [])[0]) / 2     # before and after
    print(f"learner alone: {alone:,.0f} steps/min on {args.workers} worker(s) (mean of before and after)")
    print(f"next to {args.links} links of one person, turns per run (before): {per_run:,.0f} steps/min "
          f"= {per_run / alone:.2f} of alone; {part_before:.2f} of all steps taken")
    print(f"next to {args.links} links of one person, turns per person (now):  {per_person:,.0f} steps/min "
          f"= {per_person / alone:.2f} of alone; {part_now:.2f} of all steps taken")
    print(f"now / before: {per_person / per_run:.1f}x the learner's steps/min")


if __name__ == "__main__":
    main()
