"""What the run store costs training, how big it gets, and how fast runs come back after a kill.

    python benchmarks/store_overhead.py [--steps 300] [--repeats 3] [--restart-runs 30]

1. Overhead: the same seeded run (the Train page's defaults: LSTM, hidden_size 128, seq_len 64,
   batch_size 32) trains `--steps` steps on a registry without a store, then on one with a
   SQLite store (history rows, samples, status, and a checkpoint after every
   CHECKPOINT_EVERY s of training plus one at the end), alternating off/on `--repeats` times so
   machine noise hits both. Tokens/s is wall-clock over Start -> finished (the writer's thread
   and the checkpoint copies count). Prints the medians and the ratio on / off (target >= 0.97),
   and the same with a checkpoint after every 1 s of training (a stress figure).
2. Size: the store's size report after those runs: bytes per run (history + checkpoint + all).
3. Restart: a child process trains `--restart-runs` runs on a store and is killed with SIGKILL;
   then a new registry on the same store is made and timed until every run took a step again.
"""
from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playground import corpora  # noqa: E402
from playground.config import ModelConfig, TrainConfig  # noqa: E402
from playground.limits import LIMITS  # noqa: E402
from playground.persist import CHECKPOINT_EVERY, Persistence  # noqa: E402
from playground.registry import RunRegistry  # noqa: E402
from playground.store import RunStore  # noqa: E402
from playground.store_writer import StoreWriter  # noqa: E402
from playground.stored_registry import StoredRegistry  # noqa: E402

MODEL, TRAIN = ModelConfig(), TrainConfig(seed=1)
LIMITS1 = replace(LIMITS, max_concurrent=1)


def stored(data_dir: Path, checkpoint_every: float = CHECKPOINT_EVERY) -> StoredRegistry:
    persistence = Persistence(StoreWriter(lambda: RunStore.open(data_dir=data_dir)).start(),
                              checkpoint_every=checkpoint_every)
    registry = StoredRegistry(limits=LIMITS1, persistence=persistence)
    persistence.resume_saved(registry)
    persistence.resumed.wait(60)
    return registry


def tokens_per_s(registry: RunRegistry, text: str, steps: int) -> tuple[float, float]:
    """(tokens per wall second, tokens per CPU second of this process: all its threads, the
    store's writer included; steadier on a shared machine)."""
    run = registry.create(MODEL, TRAIN, text, "bench-Zq3xY8pLmN0aBcDe")
    t0, c0 = time.perf_counter(), time.process_time()
    run.start(steps)
    run.join()
    persistence = getattr(registry, "persistence", None)
    if persistence is not None:
        persistence.writer.flush(60)
    tokens = steps * TRAIN.batch_size * TRAIN.seq_len
    return tokens / (time.perf_counter() - t0), tokens / (time.process_time() - c0)


def overhead(text: str, steps: int, repeats: int, checkpoint_every: float, data_dir: Path) -> tuple:
    """((median wall tokens/s off, on), (median CPU tokens/s off, on), the on registry)."""
    off, on = [], []
    plain, with_store = RunRegistry(limits=LIMITS1), stored(data_dir, checkpoint_every)
    for _ in range(repeats):
        off.append(tokens_per_s(plain, text, steps))
        on.append(tokens_per_s(with_store, text, steps))
    wall = statistics.median(o[0] for o in off), statistics.median(o[0] for o in on)
    cpu = statistics.median(o[1] for o in off), statistics.median(o[1] for o in on)
    return wall, cpu, with_store


CHILD = textwrap.dedent("""
    import sys, time
    from dataclasses import replace
    from pathlib import Path
    sys.path.insert(0, {root!r})
    from playground import corpora
    from playground.config import ModelConfig, TrainConfig
    from playground.limits import LIMITS
    from playground.persist import Persistence
    from playground.store import RunStore
    from playground.store_writer import StoreWriter
    from playground.stored_registry import StoredRegistry
    p = Persistence(StoreWriter(lambda: RunStore.open(data_dir=Path({data!r}))).start(), checkpoint_every=0.5)
    reg = StoredRegistry(limits=replace(LIMITS, max_concurrent=2), persistence=p)
    text = corpora.load("brackets", 50_000)
    runs = [reg.create(ModelConfig(cell="GRU", hidden_size=64), TrainConfig(seq_len=32, batch_size=16, seed=i),
                       text, f"learner-{{i:03d}}-Zq3xY8pLmN0a") for i in range({n})]
    for run in runs:
        run.start(1_000_000)
    while True:
        time.sleep(0.5)
        p.writer.flush(30)
        if all((c := p.writer.store.latest_checkpoint(r.run_id)) is not None and c.step > 0 for r in runs):
            print("READY", flush=True)
            time.sleep(1e6)
""")


def restart_seconds(n: int, data_dir: Path) -> tuple[float, float]:
    """(seconds until the new registry has rebuilt every run, until every run took a new step)."""
    child = subprocess.Popen([sys.executable, "-c", CHILD.format(root=str(ROOT), data=str(data_dir), n=n)],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().startswith("READY"), "the child did not get its runs checkpointed"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    t0 = time.perf_counter()
    registry = stored(data_dir)
    rebuilt = time.perf_counter() - t0
    start = {r.run_id: r.steps_done for r in registry.runs.values()}
    assert len(start) == n, f"{len(start)} of {n} runs restored"
    while any(r.steps_done <= start[r.run_id] for r in registry.runs.values()):
        time.sleep(0.05)
    stepped = time.perf_counter() - t0
    for run in registry.runs.values():
        run.stop()
    return rebuilt, stepped


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--restart-runs", type=int, default=30)
    args = ap.parse_args()
    torch.set_num_threads(1)
    text = corpora.load("torch_docs")
    with tempfile.TemporaryDirectory() as tmp:
        for every in (CHECKPOINT_EVERY, 1.0):
            data = Path(tmp) / f"every-{every:g}"
            (off, on), (c_off, c_on), registry = overhead(text, args.steps, args.repeats, every, data)
            print(f"checkpoint every {every:g} s of training: store off {off:,.0f} tokens/s, on {on:,.0f} "
                  f"tokens/s, ratio on/off {on / off:.3f} wall clock, {c_on / c_off:.3f} per CPU second "
                  "(target >= 0.97)")
        size = registry.persistence.writer.store.size_report()
        print(f"store after {size.runs} runs of {args.steps} steps ({MODEL.cell} h{MODEL.hidden_size}): "
              f"{size.database_bytes / 2**20:.2f} MB, {size.bytes_per_run / 2**20:.2f} MB per run "
              f"(checkpoints {size.checkpoint_bytes / size.runs / 2**20:.2f} MB, {size.history_rows // size.runs} "
              f"history rows per run)")
        if args.restart_runs:
            rebuilt, stepped = restart_seconds(args.restart_runs, Path(tmp) / "restart")
            print(f"restart after SIGKILL with {args.restart_runs} runs training: rebuilt in {rebuilt:.1f} s, "
                  f"every run stepping again after {stepped:.1f} s")
    os._exit(0)   # trainer threads of the registries made here are daemons; skip their teardown


if __name__ == "__main__":
    main()
