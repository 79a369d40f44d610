"""The run front: start, pause, resume, step, stop, lr change, fair turns, workspaces and grace.

Every test that makes runs runs twice: on the local backend (this process's scheduler) and on
the Ray backend (a local Ray with 2 CPUs, marker `ray`): the same front, the same behaviour.
"""
import time
from dataclasses import replace
from functools import partial

import pytest

from conftest import wait_until
from playground import corpora
from playground.config import ModelConfig, TrainConfig
from playground.limits import LIMITS, Limits
from playground.front import RunFront, Status
from playground.runner import RunRegistry

wait_for = partial(wait_until, timeout=30.0, every=0.02)
TEXT = corpora.load("brackets", 20_000)
MODEL = ModelConfig(cell="GRU", hidden_size=16, embedding_dim=4)
TRAIN = TrainConfig(seq_len=8, batch_size=4)



@pytest.fixture(params=["local", pytest.param("ray", marks=pytest.mark.ray)])
def make_registry(request):
    """make_registry(limits=None) -> a RunRegistry with one trainer thread on this test's backend;
    its runs are stopped and freed afterwards."""
    made = []

    def make(limits: Limits | None = None, observer=None) -> RunRegistry:
        limits = replace(limits or LIMITS, max_concurrent=1)
        backend = None
        if request.param == "ray":
            from playground.ray_backend import RayBackend
            request.getfixturevalue("ray_cluster")
            backend = RayBackend(limits, env={})
        made.append(RunRegistry(limits=limits, backend=backend, observer=observer))
        return made[-1]

    yield make
    for reg in made:
        for run in list(reg.runs.values()):
            run.stop()
            run.join(5)
            reg.remove(run.run_id)


@pytest.fixture
def registry(make_registry):
    return make_registry()


def test_run_trains_to_its_target_and_publishes_snapshots(registry):
    run = registry.create(MODEL, TRAIN, TEXT, owner="a")
    run.update_settings(sample_every=10)
    run.start(30)
    run.join(30)
    snap = run.snapshot()
    assert snap.status == "finished" and snap.step == 30 == len(snap.history)
    assert snap.history["val_loss"].notna().sum() >= 2          # step 1 and the last step
    assert [s.step for s in snap.samples] == [10, 20, 30]
    assert len(snap.samples[-1].greedy) == run.settings.sample_length
    assert snap.tokens_per_s > 0 and snap.parameters > 0
    run.start(5)                                                # Start again continues
    run.join(30)
    assert run.snapshot().step == 35


def test_pause_resume_step_and_stop(registry):
    run = registry.create(MODEL, TRAIN, TEXT, owner="a")
    run.start(100_000)
    assert wait_for(lambda: run.steps_done > 2)
    run.pause()
    time.sleep(0.2)
    paused_at = run.steps_done
    time.sleep(0.3)
    assert run.steps_done == paused_at and run.status == "paused"
    run.step()
    assert wait_for(lambda: run.steps_done == paused_at + 1)
    time.sleep(0.2)
    assert run.steps_done == paused_at + 1             # exactly one step
    run.resume()
    assert wait_for(lambda: run.steps_done > paused_at + 3)
    run.stop()
    run.join(5)
    assert run.status == "stopped" and not run.is_active


def test_step_on_a_new_run_does_one_step(registry):
    run = registry.create(MODEL, TRAIN, TEXT, owner="a")
    run.step()
    run.join(10)
    assert run.steps_done == 1 and run.status == "finished"


def test_lr_change_while_running(registry):
    run = registry.create(MODEL, TRAIN, TEXT, owner="a")
    run.start(100_000)
    assert wait_for(lambda: run.steps_done > 2)
    run.set_lr(0.02)
    assert wait_for(lambda: run.snapshot().history["lr"].iloc[-1] == 0.02)
    run.stop()


def test_one_worker_serves_every_run_in_turns(registry):
    """With one trainer thread and three runs, all three progress (turns, not a queue)."""
    runs = [registry.create(MODEL, TRAIN, TEXT, owner=o) for o in "abc"]
    for run in runs:
        run.start(100_000)
    assert wait_for(lambda: all(r.steps_done > 5 for r in runs), timeout=30)
    snap = runs[0].snapshot()
    assert snap.active_runs == 3
    if registry.backend.name == "local":
        assert registry.scheduler.workers == 1 and snap.share == pytest.approx(1 / 3)
    else:                           # two trainer pools of one thread each (the local Ray's 2 CPUs)
        assert snap.workers == 2 and snap.share == pytest.approx(2 / 3)
    for run in runs:
        run.stop()
    assert all(r.join(5) for r in runs)


def test_quick_step_clicks_add_up(registry):
    run = registry.create(MODEL, TRAIN, TEXT, owner="a")
    run.start(100_000)
    assert wait_for(lambda: run.steps_done > 2)
    run.pause()
    time.sleep(0.3)
    at = run.steps_done
    for _ in range(20):
        run.step()
    assert wait_for(lambda: run.steps_done == at + 20)
    time.sleep(0.3)
    assert run.steps_done == at + 20 and run.status == "paused"
    run.stop()


def test_stop_while_paused_and_start_again_continues(registry):
    run = registry.create(MODEL, TRAIN, TEXT, owner="a")
    run.start(100_000)
    assert wait_for(lambda: run.steps_done > 2)
    run.pause()
    run.stop()
    assert run.join(5) and run.status == "stopped"
    time.sleep(0.3)                          # a step in flight at Stop still completes (both backends)
    at = run.steps_done
    run.start(5)
    assert run.join(20) and run.status == "finished" and run.steps_done == at + 5


def test_diverging_run_reports_the_reason(registry):
    cfg = TrainConfig(seq_len=8, batch_size=4, optimizer="sgd", lr=10.0, clip=0)
    run = registry.create(ModelConfig(cell="RNN_RELU", hidden_size=64, embedding_dim=16), cfg, TEXT, owner="a")
    run.start(2000)
    run.join(60)
    assert run.status == "diverged" and "lower learning rate" in run.message


def test_owner_isolation_and_session_release(registry):
    mine = registry.create(MODEL, TRAIN, TEXT, owner="me")
    registry.create(MODEL, TRAIN, TEXT, owner="you")
    assert registry.get(mine.run_id, "me") is mine
    assert registry.get(mine.run_id, "you") is None and registry.get(mine.run_id, None) is None
    mine.start(100_000)
    assert wait_for(lambda: mine.steps_done > 0)
    registry.stop_owner("me")
    mine.join(5)
    assert not mine.is_active and registry.get(mine.run_id, "me") is None
    assert len(registry.runs_of("you")) == 1


def test_workspace_runs_survive_a_closed_session_for_the_grace_period(make_registry):
    reg = make_registry(Limits(grace_minutes=1))
    run = reg.create(MODEL, TRAIN, TEXT, owner="link")
    reg.attach("link")
    reg.attach("link")                       # a second tab of the same link
    reg.detach("link")
    assert reg.reap(now=time.time() + 3600) == 0         # one viewer left: kept
    reg.detach("link")                                   # the last viewer left
    assert reg.reap(now=time.time() + 30) == 0           # within the grace period: kept
    assert reg.get(run.run_id, "link") is run
    assert reg.reap(now=time.time() + 61) == 1           # past it: freed
    assert reg.get(run.run_id, "link") is None and not reg.has_workspace("link")


def test_active_run_is_per_workspace_and_limited_per_link(make_registry):
    reg = make_registry(Limits(max_runs_per_learner=2))
    a = reg.create(MODEL, TRAIN, TEXT, owner="link")
    reg.set_active("link", a.run_id)
    assert reg.active_run("link") is a and reg.active_run("other") is None
    reg.create(MODEL, TRAIN, TEXT, owner="link")
    with pytest.raises(ValueError, match="limit"):
        reg.create(MODEL, TRAIN, TEXT, owner="link")
    reg.remove(a.run_id)
    assert reg.active_run("link") is None and len(reg.runs_of("link")) == 1


def test_wall_time_limit_stops_a_run(make_registry):
    reg = make_registry(Limits(max_wall_minutes=0.3 / 60))
    run = reg.create(MODEL, TRAIN, TEXT, owner="a")
    run.start(10_000_000)
    run.join(10)
    assert run.status == "stopped" and "limit" in run.message


def test_copy_model_is_independent_of_training(registry):
    run = registry.create(MODEL, TRAIN, TEXT, owner="a")
    model, vocab, cfg = run.copy_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    run.start(10)
    run.join(10)
    assert all((model.state_dict()[k] == v).all() for k, v in before.items())
    assert cfg.vocab_size == len(vocab) and not model.training


class Recorder:
    """A RunObserver that keeps what it is told (what a run store would write)."""

    def __init__(self):
        self.rows, self.samples, self.statuses = {}, [], []

    def on_history(self, run_id, rows):
        self.rows.update({(run_id, r.step): r for r in rows})          # upsert by step

    def on_sample(self, run_id, sample):
        self.samples.append((run_id, sample))

    def on_status(self, run_id, status, step):
        self.statuses.append((run_id, status, step))


def test_an_observer_sees_rows_samples_and_status_changes(make_registry):
    seen = Recorder()
    registry = make_registry(observer=seen)
    run = registry.create(MODEL, TRAIN, TEXT, owner="a")
    assert isinstance(run, RunFront)
    run.update_settings(sample_every=10)
    run.start(30)
    assert run.join(30)
    snap = run.snapshot()                     # the Ray proxy tells what it fetches
    assert sorted(step for _, step in seen.rows) == list(range(1, 31))
    assert all(rid == run.run_id for rid, _ in seen.rows)
    rows = [seen.rows[run.run_id, s] for s in range(1, 31)]
    assert [r.loss for r in rows] == list(snap.history["loss"])
    assert rows[-1].val_loss == snap.history["val_loss"].iloc[-1]        # measured after the step, told too
    assert [s.step for _, s in seen.samples] == [10, 20, 30] == [s.step for s in snap.samples]
    assert seen.statuses[-1] == (run.run_id, Status.FINISHED, 30)
    if registry.backend.name == "local":      # told every change, in order; Ray: those its reads see
        assert [st for _, st, _ in seen.statuses] == ["queued", "running", "finished"]
    run.start(5)
    run.pause()
    run.stop()
    assert run.join(10)
    assert seen.statuses[-1][1] == Status.STOPPED


def test_limits_are_checked_before_the_run_is_built(make_registry):
    reg = make_registry(Limits(max_hidden_size=8))
    built = []
    make_run = reg.backend.make_run
    reg.backend.make_run = lambda *a, **k: built.append(1) or make_run(*a, **k)
    with pytest.raises(ValueError, match="hidden_size 16 is above this server's limit of 8"):
        reg.create(MODEL, TRAIN, TEXT, owner="a")
    assert built == [] and reg.runs_of("a") == []
    reg.create(replace(MODEL, hidden_size=8), TRAIN, TEXT, owner="a")
    assert built == [1]
