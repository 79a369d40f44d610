"""Corpus memory (issue 19, item 3): RSS of N runs on one large uploaded text, as the app builds
them (RunRegistry.create, the limits checked first), now vs the old way (each run its own int64
token ids, measured in the same process by forcing int64 ids and no sharing).

    python -m benchmarks.corpus_memory --mb 19 --runs 8

Prints the RSS before and after building the runs for each way, and the ids' bytes.
"""
from __future__ import annotations

import argparse
import gc
import random

import torch

from playground import encoded
from playground.config import ModelConfig, TrainConfig
from playground.limits import Limits
from playground.registry import RunRegistry, release_memory
from playground.scheduler import Scheduler


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


def upload(mb: float) -> str:
    """A text of `mb` MB over ~70 characters (words of a small alphabet, lines)."""
    rng, words = random.Random(0), ["".join(random.Random(i).choices("etaoinshrdlucmfwypvbgkjqxz", k=1 + i % 9))
                                    for i in range(500)]
    out, size = [], 0
    while size < mb * 1e6:
        line = " ".join(rng.choice(words) for _ in range(12)).capitalize() + ".\n"
        out.append(line)
        size += len(line)
    return "".join(out)


def build(text: str, runs: int) -> tuple[float, float, list, RunRegistry]:
    """(RSS before, RSS after, the runs, their registry) for `runs` runs on `text`."""
    reg = RunRegistry(limits=Limits(max_runs_per_learner=runs, max_run_memory_mb=4096), scheduler=Scheduler(1))
    gc.collect()
    release_memory()
    before = rss_mb()
    made = [reg.create(ModelConfig(cell="GRU", hidden_size=32, embedding_dim=16), TrainConfig(seed=i), text,
                       f"bench-link-{i:02d}-0123456789") for i in range(runs)]
    gc.collect()
    release_memory()
    return before, rss_mb(), made, reg


def free(reg: RunRegistry, runs: list) -> None:
    for run in runs:
        reg.remove(run.run_id)
    gc.collect()
    release_memory()


def ids_bytes(runs: list) -> int:
    storages = {}
    for run in runs:
        for t in (run.trainer.train_ids, run.trainer.val_ids):
            storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
    return sum(storages.values())


def old_way() -> None:
    """Each run its own int64 copy, as before encoded.py."""
    class NoCache(dict):
        def get(self, key, default=None):
            return default
    encoded._CACHE = NoCache()
    encoded.smallest_dtype = lambda max_value: torch.int64


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=float, default=19.0)
    ap.add_argument("--runs", type=int, default=8)
    args = ap.parse_args()
    text = upload(args.mb)
    print(f"text: {len(text) / 1e6:.1f} MB, {args.runs} runs")
    _, _, warm, warm_reg = build(text[:200_000], 1)    # warm-up: torch's first model and optimizer (~75 MB once)
    free(warm_reg, warm)
    del warm
    before, after, runs, reg = build(text, args.runs)
    print(f"now:     RSS {before:,.0f} -> {after:,.0f} MB (+{after - before:,.0f} MB); "
          f"ids {ids_bytes(runs) / 2**20:,.1f} MB in {runs[0].trainer.train_ids.dtype}")
    free(reg, runs)
    del runs
    gc.collect()
    release_memory()
    print(f"after freeing them: RSS {rss_mb():,.0f} MB; encoded texts alive: {encoded.cached_count()}")
    old_way()
    before, after, runs, reg = build(text, args.runs)
    print(f"int64, one copy per run (before): RSS {before:,.0f} -> {after:,.0f} MB (+{after - before:,.0f} MB); "
          f"ids {ids_bytes(runs) / 2**20:,.1f} MB")


if __name__ == "__main__":
    main()
