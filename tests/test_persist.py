"""Runs in the run store, at the registry level: saved as they train, back after a restart (a new
registry on the same store; a process killed with SIGKILL), unloaded not deleted after the grace
period, culled after PLAYGROUND_KEEP_DAYS, and training on in memory when the store fails."""
import os
import signal
import subprocess
import sys
import textwrap
from dataclasses import replace
from functools import partial
from pathlib import Path

import pytest
import sqlalchemy.exc

from conftest import ROOT, wait_until
from playground import corpora
from playground.config import ModelConfig, TrainConfig
from playground.front import Status
from playground.limits import LIMITS
from playground.persist import ORPHAN, Persistence
from playground.registry import RunRegistry
from playground.store import RunStore
from playground.store_records import hash_token
from playground.store_writer import StoreWriter
from playground.stored_registry import StoredRegistry

wait_for = partial(wait_until, timeout=60.0, every=0.05)
TEXT = corpora.load("brackets", 20_000)
MODEL = ModelConfig(cell="LSTM", hidden_size=16, embedding_dim=8)
TRAIN = TrainConfig(seq_len=16, batch_size=4, seed=7)
TOKEN = "tokA-Zq3xY8pLmN0aBcDeFgH"
LIMITS1 = replace(LIMITS, max_concurrent=1, grace_minutes=1.0)


def stored(data_dir: Path, checkpoint_every: float = 30.0, **kw) -> StoredRegistry:
    """A registry on the SQLite store in data_dir (its own trainer thread), as the app makes one."""
    persistence = Persistence(StoreWriter(lambda: RunStore.open(data_dir=data_dir), flush_every=0.2).start(),
                              checkpoint_every=checkpoint_every)
    registry = StoredRegistry(limits=kw.pop("limits", LIMITS1), persistence=persistence, **kw)
    persistence.resume_saved(registry)
    assert persistence.resumed.wait(30)
    return registry


def losses(run) -> list[float]:
    return run.snapshot().history["loss"].tolist()


def test_a_run_restored_by_a_new_registry_continues_with_the_uninterrupted_losses(tmp_path):
    whole = RunRegistry(limits=LIMITS1).create(MODEL, TRAIN, TEXT, "someone")
    whole.start(40)
    assert whole.join(60)
    reference = losses(whole)

    first = stored(tmp_path)
    run = first.create(MODEL, TRAIN, TEXT, TOKEN, label="mine")
    run.start(20)
    assert run.join(60) and run.status == Status.FINISHED
    assert first.persistence.writer.flush(30)
    first.persistence.writer.close()

    second = stored(tmp_path)                       # "after a restart": nothing in memory
    assert not second.knows(TOKEN)
    assert second.has_workspace(TOKEN)              # the link finds its workspace in the store
    (back,) = second.runs_of(TOKEN)
    assert (back.run_id, back.label, back.status, back.steps_done) == (run.run_id, "mine", Status.FINISHED, 20)
    assert second.active_run(TOKEN) is back and back.owner == TOKEN
    assert losses(back) == pytest.approx(reference[:20], abs=0)
    back.start(20)
    assert back.join(60)
    assert losses(back)[20:] == pytest.approx(reference[20:], rel=1e-6, abs=1e-7)
    store = second.persistence.ready()
    assert [r["step"] for r in store.history(run.run_id)][-1] == 40


KILLED = textwrap.dedent("""
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
    p = Persistence(StoreWriter(lambda: RunStore.open(data_dir=Path({data!r})), flush_every=0.2).start(),
                    checkpoint_every=0.3)
    reg = StoredRegistry(limits=replace(LIMITS, max_concurrent=1), persistence=p)
    run = reg.create(ModelConfig(cell="GRU", hidden_size=16, embedding_dim=8),
                     TrainConfig(seq_len=16, batch_size=4), corpora.load("brackets", 20_000), {token!r})
    run.start(100_000)
    while True:
        time.sleep(0.2)
        p.writer.flush(10)
        ckpt = p.writer.store.latest_checkpoint(run.run_id)
        if ckpt is not None and ckpt.step >= 20:
            print("READY", run.run_id, flush=True)
            time.sleep(1e6)
""")


def test_runs_training_when_the_process_was_killed_resume_by_themselves(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", KILLED.format(root=str(ROOT), data=str(tmp_path), token=TOKEN)],
                            stdout=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        line = proc.stdout.readline()
        assert line.startswith("READY"), line
        run_id = line.split()[1]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    before = RunStore.open(data_dir=tmp_path)
    saved_rows, ckpt = len(before.history(run_id)), before.latest_checkpoint(run_id)
    assert before.get_run(run_id).status == "running" and saved_rows >= ckpt.step >= 20
    before.close()

    registry = stored(tmp_path)                     # no call below starts the run
    run = registry.runs.get(run_id)
    assert run is not None and run.owner == ORPHAN + hash_token(TOKEN)
    assert wait_for(lambda: run.steps_done > ckpt.step + 5), "the restored run did not train by itself"
    assert run.snapshot().history["step"].tolist()[:ckpt.step] == list(range(1, ckpt.step + 1))
    assert registry.has_workspace(TOKEN) and registry.runs_of(TOKEN) == [run] and run.owner == TOKEN
    assert registry.get(run_id, ORPHAN + hash_token(TOKEN)) is None
    run.stop()


def test_the_grace_period_unloads_runs_but_keeps_them(tmp_path):
    registry = stored(tmp_path)
    run = registry.create(MODEL, TRAIN, TEXT, TOKEN)
    registry.attach(TOKEN)
    run.start(100_000)
    assert wait_for(lambda: run.steps_done >= 5)
    registry.detach(TOKEN)
    assert registry.reap(now=registry.workspaces[TOKEN].left_at + 61) == 1
    assert not registry.knows(TOKEN) and run.run_id not in registry.runs
    assert wait_for(lambda: not run.is_active) and run.status == Status.STOPPED
    assert registry.persistence.writer.flush(30)
    step = run.steps_done
    store = registry.persistence.ready()
    assert store.latest_checkpoint(run.run_id).step == step and store.get_run(run.run_id).status == "stopped"

    assert registry.has_workspace(TOKEN)            # the link opened later
    (back,) = registry.runs_of(TOKEN)
    assert back is not run and back.status == Status.STOPPED and back.steps_done == step
    assert "Unloaded from memory" in back.message
    back.start(3)
    assert back.join(60) and back.steps_done == step + 3


def test_a_deleted_run_is_gone_from_the_store_and_old_links_are_culled(tmp_path):
    registry = stored(tmp_path)
    keep, gone = (registry.create(MODEL, TRAIN, TEXT, TOKEN) for _ in range(2))
    registry.remove(gone.run_id)
    assert registry.persistence.writer.flush(30)
    store = registry.persistence.ready()
    assert [r.run_id for r in store.runs_of(TOKEN)] == [keep.run_id]
    registry.stop_owner(TOKEN)
    assert registry.persistence.housekeeping(now=store.find_workspace(TOKEN).last_seen + 8 * 86400) == 1
    assert store.runs_of(TOKEN) == [] and not registry.has_workspace(TOKEN)


def failing_open(message: str):
    def open_():
        raise sqlalchemy.exc.OperationalError("INSERT", {}, Exception(message))
    return open_


def file_as_folder(tmp):
    (tmp / "file").write_text("x")
    return RunStore.open(data_dir=tmp / "file")


def corrupt_file(tmp):
    (tmp / "playground.sqlite").write_bytes(b"garbage" * 1000)
    return RunStore.open(data_dir=tmp)


@pytest.mark.parametrize("make_store,reason", [
    (file_as_folder, "a file, not a folder"),
    (corrupt_file, "damaged"),
    (lambda tmp: RunStore.open(url="postgresql+psycopg2://nobody@127.0.0.1:9/none"), "cannot be reached"),
    (lambda tmp: failing_open("database or disk is full")(), "the disk is full"),
    (lambda tmp: failing_open("attempt to write a readonly database")(), "read-only"),
])
def test_a_failing_store_leaves_training_in_memory_and_says_why(tmp_path, make_store, reason, caplog):
    persistence = Persistence(StoreWriter(lambda: make_store(tmp_path), flush_every=0.2, retry_max=0.5).start())
    registry = StoredRegistry(limits=LIMITS1, persistence=persistence)
    persistence.resume_saved(registry)
    assert persistence.resumed.wait(30)
    run = registry.create(MODEL, TRAIN, TEXT, TOKEN)
    run.start(30)
    assert run.join(60) and run.status == Status.FINISHED and run.steps_done == 30
    assert wait_for(lambda: persistence.problem() is not None)
    assert reason in persistence.problem() and "not being saved" in persistence.problem()
    assert "retrying" in caplog.text or "not saving" in caplog.text
    assert not registry.has_workspace("another-link-token-123456")    # no crash, no wait
    assert wait_for(lambda: persistence.writer.health.pending > 0)     # kept for a retry


def test_an_unusable_data_dir_at_startup_gives_one_clear_message_on_every_page(tmp_path, monkeypatch, caplog):
    from conftest import open_page
    from playground import runner
    (tmp_path / "file").write_text("x")
    registry = runner.registry_from_env(runner.SCHEDULER, LIMITS1, env={"PLAYGROUND_DATA_DIR": str(tmp_path / "file")})
    assert registry.persistence.resumed.wait(60)
    problem = registry.persistence.problem()
    assert problem and f"PLAYGROUND_DATA_DIR={tmp_path / 'file'} cannot be used: it is a file" in problem
    assert caplog.text.count("not saving") == 1                       # the log: once, with the detail
    monkeypatch.setattr(runner, "REGISTRY", registry)
    for page in ("pages/6_Compare.py", "pages/2_Shapes.py"):
        at = open_page(page)
        assert not at.exception
        (shown,) = [w.value for w in at.warning if "not being saved" in w.value]    # one warning, saying why
        assert "it is a file, not a folder" in shown and "Training goes on in memory" in shown
    registry.persistence.writer.close(timeout=1)


def test_a_runs_own_text_is_found_by_its_hash_from_another_registry_on_the_store(tmp_path):
    """A link opened on another front (or after a restart) shows the run's own text in the sidebar:
    the text comes back from the store by the hash its TrainConfig.text_id carries."""
    from playground.run_setup import text_hash
    own = "my own words, " * 200
    first = stored(tmp_path)
    first.create(MODEL, TRAIN, own, TOKEN, label="mine")
    assert first.persistence.writer.flush(30)
    assert RunRegistry(limits=LIMITS1).stored_text(text_hash(own)) is None     # no store: unknown
    other = stored(tmp_path)
    assert other.stored_text(text_hash(own)) == own
    assert other.stored_text(text_hash("never trained on")) is None


def test_a_run_that_cannot_be_read_at_exit_is_logged_and_the_rest_still_flush(tmp_path, caplog):
    """At exit a Ray front's runs may be unreadable (Ray shut down first): one line each, no
    traceback, and close() still checkpoints the runs it can read and flushes."""
    registry = stored(tmp_path)
    good = registry.create(MODEL, TRAIN, corpora.load("brackets", 5_000), owner=TOKEN)
    good.step(3)
    assert good.join(60)

    class Unreadable:
        run_id = "gone-with-ray"

        @property
        def steps_done(self):
            raise RuntimeError("Ray has shut down")

    persistence = registry.persistence
    persistence._runs[Unreadable.run_id] = Unreadable()     # noqa: SLF001 - a run of a backend gone at exit
    assert persistence.close(30)
    assert "run gone-w not checkpointed at exit (RuntimeError)" in caplog.text
    store = RunStore.open(data_dir=tmp_path)
    assert store.latest_checkpoint(good.run_id).step == 3
    store.close()


def test_a_link_whose_saved_runs_cannot_be_loaded_now_is_kept_and_they_load_later(tmp_path, monkeypatch):
    """A front started while the Ray cluster is out of reach: a learner's link found its runs in
    the store but could not rebuild them. Before, the page said the link's runs were deleted and
    gave the learner a new, empty link. Now the link is kept, the page says why, and a later
    visit (the cluster back) loads them."""
    from conftest import free_port, open_page
    from playground import runner
    from playground.ray_backend import RayBackend
    from playground.run import LocalBackend

    first = stored(tmp_path)
    run = first.create(MODEL, TRAIN, TEXT, TOKEN, label="mine")
    run.start(20)
    assert run.join(60) and first.persistence.writer.flush(30)
    first.persistence.writer.close()

    unreachable = RayBackend(LIMITS1, env={"RAY_ADDRESS": f"127.0.0.1:{free_port()}"})   # nothing listens
    second = stored(tmp_path, backend=unreachable)
    assert second.has_workspace(TOKEN)                       # the link stays the learner's
    assert "Ray cluster at RAY_ADDRESS=" in second.unavailable(TOKEN) and second.runs_of(TOKEN) == []
    monkeypatch.setattr(runner, "REGISTRY", second)
    at = open_page("pages/1_Train.py", query={"w": TOKEN})
    (warning,) = [w.value for w in at.warning if "saved runs" in w.value]          # once on the page
    assert "saved runs cannot be loaded right now: the Ray cluster at RAY_ADDRESS=" in warning
    assert "Nothing is lost" in warning and "are not on this server any more" not in warning
    assert "Ask the instructor: the cluster must be started" in warning        # what a learner can do
    assert at.query_params["w"] == TOKEN and second.knows(TOKEN)   # its session holds the workspace

    second.backend = LocalBackend(second.scheduler, second.limits)      # the cluster is back: a reload
    assert second.has_workspace(TOKEN)
    (back,) = second.runs_of(TOKEN)
    assert (back.run_id, back.label, back.steps_done) == (run.run_id, "mine", 20) and second.unavailable(TOKEN) is None
    assert second.has_workspace(TOKEN) and len(second.runs_of(TOKEN)) == 1   # loaded once


def test_a_link_saved_without_runs_keeps_its_workspace_on_another_front(tmp_path):
    """A hall: a learner's front dies before it saved anything but the link (its run made seconds
    before). The other front opens the link's workspace, empty: the learner keeps their link
    instead of "not on this server any more" and a new one. A link the store never saw is new."""
    first = stored(tmp_path)
    first.attach(TOKEN)
    assert first.persistence.writer.flush(30)
    other = stored(tmp_path)                       # the other front, same store
    assert other.has_workspace(TOKEN) and other.runs_of(TOKEN) == []
    assert not other.has_workspace("never-seen-token-0123456789")
