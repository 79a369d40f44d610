"""Pooled trainer actors (playground/ray_pool.py) on a local Ray (2 CPUs -> two pools of one
worker each): many runs on one pool all progress in turns; what an additional run costs in the
pool's memory; a killed pool's runs resume elsewhere from the run store's checkpoint, the page's
message saying so, and the store knows where each run is (a front started later finds it)."""
import re
from dataclasses import asdict, replace
from functools import partial

import pytest

from conftest import wait_until
from playground import corpora
from playground.config import ModelConfig, TrainConfig
from playground.limits import LIMITS
from playground.ray_backend import OUTAGE_HELD, RECOVERED, RayBackend, reattach_held
from playground.registry import RunRegistry
from playground.store import RunStore
from playground.store_records import RunRecord

pytestmark = pytest.mark.ray
wait_for = partial(wait_until, timeout=120.0, every=0.1)   # a condition, not a speed: CI shares the cores with the browser tests
TEXT = corpora.load("brackets", 20_000)
MODEL = ModelConfig(cell="GRU", hidden_size=16, embedding_dim=4)
TRAIN = TrainConfig(seq_len=8, batch_size=4)


@pytest.fixture
def reg(ray_cluster, tmp_path):
    limits = replace(LIMITS, max_concurrent=2, max_runs_per_learner=50)
    backend = RayBackend(limits, env={}, store=RunStore.open(data_dir=tmp_path))
    registry = RunRegistry(limits=limits, backend=backend)
    yield registry
    for run_id in list(registry.runs):
        registry.remove(run_id)
    backend.store.close()


def loads(backend: RayBackend) -> dict:
    backend.pools.refresh(timeout=10)
    return dict(backend.pools.loads)


def test_many_runs_on_one_pool_all_progress_in_turns(reg):
    runs = [reg.create(MODEL, TRAIN, TEXT, owner="a") for _ in range(6)]
    by_pool = {}
    for run in runs:
        by_pool.setdefault(run.placement, []).append(run)
    assert sorted(len(v) for v in by_pool.values()) == [3, 3]          # least loaded first: spread evenly
    for run in runs:
        run.start(100_000)
    assert wait_for(lambda: min(r.steps_done for r in runs) >= 20)
    steps = [r.steps_done for r in runs]
    for run in runs:
        run.stop()
    # turns, not one run hogging its pool; the two pools are processes the OS shares the cores between
    for pool in by_pool.values():
        shares = [steps[runs.index(r)] for r in pool]
        assert min(shares) >= 0.3 * max(shares), (shares, steps)
    snap = runs[0].snapshot()
    assert snap.backend == "ray" and snap.workers == 2 and snap.active_runs >= 1


def test_an_additional_run_costs_its_tensors_not_a_process(reg, capsys):
    model = ModelConfig(cell="LSTM", hidden_size=128, embedding_dim=32)       # the Train page's default
    train = TrainConfig(seq_len=64, batch_size=32)
    first = reg.create(model, train, TEXT, owner="m")
    first.step(5)
    assert first.join(60)
    pool = first.placement
    one_run_process = loads(reg.backend)[pool].rss_bytes                       # a process holding one run
    more = []
    while len(more) < 10:
        run = reg.create(model, train, TEXT, owner="m")
        (more if run.placement == pool else [reg.remove(run.run_id)]).append(run)
    for run in more:
        run.step(5)
    assert all(run.join(120) for run in more)
    after = loads(reg.backend)[pool].rss_bytes
    per_run = (after - one_run_process) / len(more)
    with capsys.disabled():
        print(f"\npool RSS with 1 run {one_run_process / 2**20:.0f} MB; with 11 runs {after / 2**20:.0f} MB: "
              f"{per_run / 2**20:.1f} MB per additional run")
    assert after - one_run_process < 3 * one_run_process                       # 10 more runs < 3 processes


def test_a_killed_pool_s_runs_resume_elsewhere_from_the_stored_checkpoint(reg, ray_cluster):
    store = reg.backend.store
    runs = [reg.create(MODEL, TRAIN, TEXT, owner="k") for _ in range(4)]
    for run in runs:
        store.save_run(RunRecord.for_token("k", run_id=run.run_id, model_config=asdict(MODEL),
                                           train_config=asdict(TRAIN)))
        run.start(100_000)
    assert wait_for(lambda: min(r.steps_done for r in runs) >= 10)
    victim = runs[0].placement
    doomed = [r for r in runs if r.placement == victim]
    stored = {}
    for run in doomed:                                           # what the run store's writer keeps
        data = run.checkpoint_bytes()
        stored[run.run_id] = _step_of(data)
        store.put_checkpoint(run.run_id, stored[run.run_id], data)
    assert wait_for(lambda: all(store.get_run(r.run_id).placement == r.placement for r in runs), timeout=20)

    ray_cluster.kill(runs[0]._actor.pool)
    assert wait_for(lambda: all(r.placement != victim and r.status == "running" for r in doomed), timeout=30)
    for run in doomed:
        lost_at = int(re.search(r"stopped at step ([\d,]+);", run.message).group(1).replace(",", ""))
        assert run.message == RECOVERED.format(lost=lost_at, step=stored[run.run_id]) and lost_at >= 10
        resumed_at = run.steps_done
        assert resumed_at >= stored[run.run_id]
        assert wait_for(lambda: run.steps_done > resumed_at + 3, timeout=30)     # still training
        assert run.snapshot().history["step"].iloc[0] == 1                     # history up to the checkpoint kept
    assert wait_for(lambda: all(store.get_run(r.run_id).placement == r.placement for r in doomed), timeout=20)
    found = RayBackend(reg.limits, env={}).find(doomed[0].run_id, "k", doomed[0].placement)   # another front
    assert found is not None and found.steps_done >= stored[doomed[0].run_id] and found.label == doomed[0].label
    for run in runs:
        run.stop()


def _step_of(checkpoint: bytes) -> int:
    from playground.checkpoint import read_checkpoint
    return len(read_checkpoint(checkpoint)["history"])



def test_marking_a_run_lost_does_not_wait_for_a_read_in_flight(reg):
    """A page's read holds the run's lock until its timeout (2 s): an outage marks every run of a
    front, and waiting on each would add up past Ray's 60 s (which ends the front's process)."""
    import threading
    run = reg.create(MODEL, TRAIN, TEXT, owner="a")
    run.start(100_000)
    assert wait_for(lambda: run.steps_done >= 2)
    reading, done = threading.Event(), threading.Event()

    def read_in_flight():
        with run._lock:                 # what poll() holds while it waits for the pool's answer
            reading.set()
            done.wait(30)

    threading.Thread(target=read_in_flight, daemon=True).start()
    assert reading.wait(10)
    marking = threading.Thread(target=run.mark_lost, kwargs={"outage_since": "12:00:00"}, daemon=True)
    marking.start()
    marking.join(10)
    try:
        assert not marking.is_alive(), "mark_lost waited for the read in flight"
        assert run.status == "lost" and "cannot be reached (since 12:00:00 UTC)" in run.message
    finally:
        done.set()
    run._observe(replace(run._state, status="running"))     # the read ends after: LOST stands
    assert run.status == "lost"
    run.free()


def test_after_an_outage_a_run_its_pool_still_holds_goes_on_where_it_is(reg):
    """A network outage the cluster lived through: the pool trained on meanwhile, so the run is
    re-attached (steps beyond where the front lost it), not restarted from a checkpoint."""
    run = reg.create(MODEL, TRAIN, TEXT, owner="a")
    run.start(100_000)
    assert wait_for(lambda: run.steps_done >= 5)
    run.mark_lost(outage_since="12:00:00")                       # what Outage.begin does to every run
    lost_at = run.steps_done
    assert run.status == "lost" and "cannot be reached (since 12:00:00 UTC)" in run.message and run.needs_recovery
    assert reattach_held(reg.backend.pools, [run], 42.0) == 1
    assert wait_for(lambda: run.steps_done > lost_at + 5)        # it never stopped on its pool
    assert run.status == "running" and run.message == OUTAGE_HELD.format(seconds=42.0) and not run.needs_recovery
    run.stop()


def test_a_run_a_local_front_saved_is_rebuilt_on_a_pool(reg, tmp_path):
    """A store written by a local front (checkpoints in the exact trainer-state format) read by a
    Ray front: before, its rebuild refused the checkpoint ("not an RNN Playground checkpoint")."""
    from playground.persist import Persistence, rebuild_run
    from playground.store_writer import StoreWriter
    from playground.stored_registry import StoredRegistry

    data = tmp_path / "local-front"
    persistence = Persistence(StoreWriter(lambda: RunStore.open(data_dir=data), flush_every=0.2).start())
    local = StoredRegistry(limits=reg.limits, persistence=persistence)
    run = local.create(MODEL, TRAIN, TEXT, "k", label="mine")
    run.start(20)
    assert run.join(60) and persistence.writer.flush(30)
    losses = run.snapshot().history["loss"].tolist()
    persistence.writer.close()

    store = RunStore.open(data_dir=data)
    back = rebuild_run(store, reg.backend, store.get_run(run.run_id), "k", None)
    reg.runs[back.run_id] = back                                  # freed with the fixture's runs
    assert (back.run_id, back.label, back.steps_done, back.placement != "") == (run.run_id, "mine", 20, True)
    assert back.snapshot().history["loss"].tolist() == pytest.approx(losses, abs=0)
    store.close()
