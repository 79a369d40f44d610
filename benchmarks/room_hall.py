"""The instructor's Room with a hall of learners in the run store: first render and refresh cost.

    python benchmarks/room_hall.py [--learners 300] [--steps 2000] [--refreshes 5] [--url URL]

1. Fills a fresh SQLite store (or the database `--url` names, e.g. a PostgreSQL schema) with
   `--learners` workspaces, one run each (RNN/GRU/LSTM in turn, on one corpus), each with
   `--steps` history rows and a validation loss every 50 steps: what 300 learners on several
   fronts leave in a shared database. No run is in this process's memory: every one is read
   from the store, as the Room of a front that trains none of them sees them.
2. The data alone: room_store.room_runs() cold (every run read), warm with nothing changed,
   and warm after every run trained 10 more steps (each refresh re-reads what changed), in CPU
   seconds of this process (time.process_time: the database's work in SQLite counts; a
   PostgreSQL server's does not).
3. The page: the Room in AppTest (app.py -> Room, the key typed): the first render, then
   `--refreshes` redraws with every run 10 steps further each time, wall and CPU seconds.
   The refresh budget (ui/room.ROOM: 5 % of a core) turns the measured cost into the interval
   the page redraws at; printed: CPU per refresh × refreshes per second = share of a core.
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
KEY = "benchmark-instructor-key-0123456789"
CELLS = ["RNN_TANH", "GRU", "LSTM"]


def fill(store, learners: int, steps: int, start: int = 1) -> None:
    """`learners` workspaces with one run each; history rows start..steps (upserted)."""
    from playground import corpora
    from playground.config import ModelConfig, TrainConfig
    from playground.store_records import RunRecord
    text_hash = store.put_corpus(corpora.load("brackets", 20_000))
    for i in range(learners):
        token, run_id = f"hall-learner-{i:06d}-token", f"hall-run-{i:06d}"
        if start == 1:
            store.save_workspace(token, display_name=f"Learner {i}" if i % 4 == 0 else None)
            store.save_run(RunRecord.for_token(
                token, run_id=run_id, label=f"#1 {CELLS[i % 3]}", status="running", target_step=steps * 10,
                corpus_key="brackets", corpus_hash=text_hash, train_config=TrainConfig().to_dict(),
                model_config=ModelConfig(cell=CELLS[i % 3], hidden_size=64, vocab_size=6).to_dict()))
        store.append_history(run_id, [_row(s, i) for s in range(start, steps + 1)])


def _row(step: int, i: int) -> dict:
    loss = 1.0 + 1.5 / math.sqrt(step) + 0.1 * (i % 3 == 0)
    val = loss + 0.05 if step % 50 == 0 else None
    return dict(step=step, loss=loss, perplexity=math.exp(loss), grad_norm=1.0, clipped=False, tokens=2048,
                seconds=0.05, lr=3e-3, epoch=0, val_loss=val, val_bits_per_char=val and val / math.log(2),
                annealed=False)


def timed(fn) -> tuple[float, float, object]:
    """(wall s, CPU s of this process, result)."""
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - w, time.process_time() - c, out


def data_figures(store, learners: int, steps: int) -> dict:
    from playground import room, room_store
    empty = SimpleNamespace(workspaces={}, runs={})
    cache, numbers = room_store.StoredRoom(), room.LearnerNumbers()
    read = lambda: room_store.room_runs(empty, store, numbers=numbers, stored=cache)  # noqa: E731
    cold = timed(read)
    assert len(cold[2]) == learners, f"{len(cold[2])} runs read, {learners} expected"
    unchanged = timed(read)
    fill(store, learners, steps + 10, start=steps + 1)       # every run trained 10 more steps
    changed = timed(read)
    return {"cold": cold[:2], "unchanged": unchanged[:2], "all changed": changed[:2]}


def page_figures(store, learners: int, steps: int, refreshes: int) -> dict:
    """The Room page in AppTest on this store (no live run in this process)."""
    import warnings

    from streamlit.testing.v1 import AppTest

    from playground import room_store
    from playground.ui import room as room_ui
    warnings.filterwarnings("ignore")
    os.environ["PLAYGROUND_INSTRUCTOR_KEY"] = KEY
    room_store.store_of = lambda registry: store            # the page reads this store
    room_store.STORED.seen.clear()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at = at.switch_page("pages/7_Room.py").run()
    at.text_input(key="room_key").input(KEY)
    at.button[0].click()
    first = timed(at.run)
    assert not at.exception, at.exception
    assert len(at.dataframe[0].value) >= learners, len(at.dataframe[0].value)
    redraws, done = [], steps + 10
    for _ in range(refreshes):
        fill(store, learners, done + 10, start=done + 1)   # 10 more steps each between redraws
        done += 10
        redraws.append(timed(at.run)[:2])
    assert not at.exception, at.exception
    return {"first": first[:2], "redraws": redraws, "interval": room_ui.ROOM.interval(),
            "budget": room_ui.ROOM.budget_cores}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--learners", type=int, default=300)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--refreshes", type=int, default=5)
    ap.add_argument("--url", default="", help="a database URL (default: a SQLite file in a temp folder)")
    args = ap.parse_args(argv)
    os.environ.setdefault("PLAYGROUND_DATA_DIR", tempfile.mkdtemp(prefix="room-hall-"))
    from playground.store import RunStore
    store = RunStore.open(args.url or f"sqlite:///{tempfile.mkdtemp(prefix='room-hall-db-')}/hall.sqlite")
    t0 = time.perf_counter()
    fill(store, args.learners, args.steps)
    print(f"store: {store.where}; {args.learners} learners × {args.steps:,} steps written in "
          f"{time.perf_counter() - t0:.1f} s")
    for name, (wall, cpu) in data_figures(store, args.learners, args.steps).items():
        print(f"room_runs, {name:>11}: {wall:.3f} s wall, {cpu:.3f} s CPU")
    page = page_figures(store, args.learners, args.steps + 10, args.refreshes)
    cpu = statistics.median(c for _, c in page["redraws"])
    wall = statistics.median(w for w, _ in page["redraws"])
    print(f"Room page (AppTest), first render: {page['first'][0]:.2f} s wall, {page['first'][1]:.2f} s CPU")
    print(f"Room page (AppTest), redraw with every run 10 steps on (median of {args.refreshes}): "
          f"{wall:.3f} s wall, {cpu:.3f} s CPU")
    print(f"refresh budget {page['budget']:.0%} of a core -> a redraw every {page['interval']:.1f} s: "
          f"{cpu:.3f} s CPU × {1 / page['interval']:.3f} /s = {cpu / page['interval']:.1%} of a core")


if __name__ == "__main__":
    main()
