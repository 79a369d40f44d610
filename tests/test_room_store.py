"""The Room reads the run store and the live runs: runs of another front (rows written straight
into a shared database), runs unloaded after the grace period or from before a restart, each
run once with the live snapshot preferred; display names kept on the workspace; the broadcast
in the store (every front sees it; clear; memory without a store)."""
from __future__ import annotations

import math
import time
from dataclasses import replace
from types import SimpleNamespace

import pytest

from conftest import wait_until
from playground import broadcast, corpora, room, room_store
from playground.config import ModelConfig, TrainConfig
from playground.limits import LIMITS
from playground.persist import ORPHAN, Persistence
from playground.store import RunStore
from playground.store_records import RunRecord, hash_token
from playground.store_writer import StoreWriter
from playground.stored_registry import StoredRegistry
from store_fixtures import pg_base, store_url  # noqa: F401

TEXT = corpora.load("brackets", 20_000)
MODEL = ModelConfig(cell="GRU", hidden_size=16, embedding_dim=8)
TRAIN = TrainConfig(seq_len=16, batch_size=4, seed=3)
TOKEN, OTHER = "tokA-Zq3xY8pLmN0aBcDeFgH", "tokB-Zq3xY8pLmN0aBcDeFgH"
EMPTY = SimpleNamespace(workspaces={}, runs={})     # a front with no live runs


def other_front_run(store: RunStore, token: str, run_id: str, steps: int, cell="LSTM", status="running",
                    val_every=10, name=None):
    """A run another front trains: its record, text and history rows written into the shared store
    (the record's step is the one of its last status change, 0, as a writer leaves it)."""
    store.save_workspace(token, display_name=name)
    corpus = store.put_corpus(TEXT)
    store.save_run(RunRecord.for_token(
        token, run_id=run_id, label=f"#1 {cell}", status=status, step=0, target_step=steps * 2,
        corpus_key="brackets", corpus_hash=corpus,
        model_config=ModelConfig(cell=cell, hidden_size=32, vocab_size=6).to_dict(), train_config=TRAIN.to_dict()))
    store.append_history(run_id, [dict(step=s, loss=2.0, perplexity=math.e ** 2, grad_norm=1.0, clipped=False,
                                       tokens=100, seconds=0.01 * (1 + (s > steps - 20)), lr=3e-3, epoch=0,
                                       val_loss=(1.0 + 1 / s) if s % val_every == 0 else None,
                                       val_bits_per_char=0.5 if s % val_every == 0 else None, annealed=False)
                                  for s in range(1, steps + 1)])


def test_runs_of_another_front_come_from_the_store(store_url):  # noqa: F811
    store = RunStore.open(store_url)
    other_front_run(store, TOKEN, "ra", 100, name="Ada <b>")
    other_front_run(store, OTHER, "rb", 40, cell="RNN_TANH", status="diverged")
    runs = room_store.room_runs(EMPTY, store, numbers=room.LearnerNumbers(), stored=room_store.StoredRoom())
    a, b = sorted(runs, key=lambda r: r.run_id)
    assert (a.learner, b.learner) == ("Ada <b>", "learner 2")         # the name as typed (escaped where drawn)
    assert a.workspace == room.workspace_hash(TOKEN) and TOKEN not in str(vars(a))
    assert a.step == 100 and a.status == "running" and a.cell == "LSTM" and a.target_step == 200
    assert a.val_perplexity == pytest.approx(math.exp(1.01)) and a.val_bits_per_char == 0.5
    assert a.tokens_per_s == pytest.approx(20 * 100 / (20 * 0.02))   # the last 20 steps only
    assert [s for s, _ in a.curve] == list(range(10, 101, 10))
    assert a.uniform_perplexity == 6 and 1 < a.unigram_perplexity < 6   # from the stored text
    assert room.DIVERGED in room.flags(b) and b.step == 40
    assert b.tokens_per_s == pytest.approx(5000)                    # its own last 20 steps, not a's
    store.close()


def test_the_live_snapshot_is_preferred_and_each_run_shown_once(tmp_path):
    registry = stored_registry(tmp_path)
    run = registry.create(MODEL, TRAIN, TEXT, TOKEN, label="mine", corpus_key="brackets")
    run.start(5)
    assert run.join(60) and registry.persistence.writer.flush(30)
    store = registry.persistence.writer.store
    other_front_run(store, OTHER, "elsewhere", 30)
    store.update_run_status(run.run_id, "finished", 999)    # a stale or odd store row loses to the live run
    runs = room_store.room_runs(registry, store, numbers=room.LearnerNumbers(), stored=room_store.StoredRoom())
    assert sorted(r.run_id for r in runs) == sorted([run.run_id, "elsewhere"])
    assert next(r for r in runs if r.run_id == run.run_id).step == 5
    registry.persistence.close()


def test_unloaded_runs_and_runs_from_before_a_restart_stay_in_the_room(tmp_path):
    first = stored_registry(tmp_path)
    run = first.create(MODEL, TRAIN, TEXT, TOKEN, label="before", corpus_key="brackets")
    first.set_display_name(TOKEN, "Grace")
    run.start(4)
    assert run.join(60)
    first.stop_owner(TOKEN)                               # the grace period is over: unloaded
    assert run.run_id not in first.runs and first.persistence.writer.flush(30)
    shown = room_store.room_runs(first, first.persistence.writer.store, numbers=room.LearnerNumbers(),
                                 stored=room_store.StoredRoom())
    assert [(r.run_id, r.step, r.learner) for r in shown] == [(run.run_id, 4, "Grace")]
    first.persistence.close()
    second = stored_registry(tmp_path)                    # a restart: a new process on the same store
    assert wait_until(lambda: second.persistence.writer.store is not None, 30)
    shown = room_store.room_runs(second, room_store.store_of(second), numbers=room.LearnerNumbers(),
                                 stored=room_store.StoredRoom())
    assert [(r.run_id, r.step, r.learner, r.status) for r in shown] == [(run.run_id, 4, "Grace", "finished")]
    assert second.has_workspace(TOKEN) and second.workspaces[TOKEN].display_name == "Grace"   # back with its name
    second.persistence.close()


def test_only_workspaces_active_since_the_window_are_shown(store_url):  # noqa: F811
    store = RunStore.open(store_url)
    other_front_run(store, TOKEN, "new", 20)
    other_front_run(store, OTHER, "old", 20)
    with store.begin() as conn:      # seen, and changed, two days ago
        from playground import store_schema as S
        conn.execute(S.workspaces.update().where(S.workspaces.c.token_hash == hash_token(OTHER)).values(last_seen=1.0))
        conn.execute(S.runs.update().where(S.runs.c.run_id == "old").values(updated_at=1.0))
    runs = room_store.room_runs(EMPTY, store, since=time.time() - 3600, numbers=room.LearnerNumbers(),
                                stored=room_store.StoredRoom())
    assert [r.run_id for r in runs] == ["new"]
    store.close()


def test_an_unchanged_run_is_not_read_again_and_a_changed_one_is(tmp_path):
    store = RunStore.open(f"sqlite:///{tmp_path / 'db.sqlite'}")
    other_front_run(store, TOKEN, "ra", 30)
    other_front_run(store, OTHER, "rb", 30)
    cache, numbers = room_store.StoredRoom(), room.LearnerNumbers()
    first = {r.run_id: r for r in room_store.room_runs(EMPTY, store, numbers=numbers, stored=cache)}
    store.append_history("rb", [dict(step=31, loss=1.0, perplexity=math.e, grad_norm=1.0, clipped=False, tokens=100,
                                     seconds=0.01, lr=3e-3, epoch=0, val_loss=0.5, val_bits_per_char=0.25,
                                     annealed=False)])
    again = {r.run_id: r for r in room_store.room_runs(EMPTY, store, numbers=numbers, stored=cache)}
    assert again["ra"] is first["ra"]                               # from the cache
    assert again["rb"] is not first["rb"] and again["rb"].step == 31
    assert again["rb"].val_perplexity == pytest.approx(math.exp(0.5))
    store.close()


def test_an_orphan_workspace_is_the_same_learner_as_its_link():
    assert room_store.workspace_id(ORPHAN + hash_token(TOKEN)) == room_store.workspace_id(TOKEN)


def test_a_failing_store_leaves_the_rooms_live_runs(own_registry, caplog):
    class Broken:
        def begin(self):
            raise OSError("the database cannot be reached")

        def workspaces(self, seen_since=0.0):
            raise OSError("the database cannot be reached")
    run = own_registry.create(MODEL, TRAIN, TEXT, TOKEN, corpus_key="brackets")
    runs = room_store.room_runs(own_registry, Broken(), numbers=room.LearnerNumbers(), stored=room_store.StoredRoom())
    assert [r.run_id for r in runs] == [run.run_id] and "showing this front's runs only" in caplog.text
    own_registry.remove(run.run_id)


# ---- the broadcast in the store -----------------------------------------------------------------

def test_a_broadcast_in_the_store_reaches_every_front_and_clears(store_url):  # noqa: F811
    store_a, store_b = RunStore.open(store_url), RunStore.open(store_url)       # two fronts, one database
    front_a, front_b = broadcast.Board(cache_seconds=0), broadcast.Board(cache_seconds=0)
    assert front_b.latest(store_b) is None
    sent = front_a.post("Switch to the GRU: https://example.org/x", store_a)
    seen = front_b.latest(store_b)
    assert seen.text == "Switch to the GRU: https://example.org/x" and seen.number == sent.number
    assert front_a.post("Second", store_a).number > sent.number
    front_b.clear(store_b)
    assert front_a.latest(store_a) is None and front_b.latest(store_b) is None
    store_a.close(), store_b.close()


def test_a_broadcast_read_is_cached_per_front_and_memory_serves_without_a_store(tmp_path):
    store = RunStore.open(f"sqlite:///{tmp_path / 'db.sqlite'}")
    board, other = broadcast.Board(cache_seconds=60), broadcast.Board(cache_seconds=0)
    assert board.latest(store) is None
    other.post("new", store)
    assert board.latest(store) is None                   # cached: one read per CACHE_SECONDS per front
    assert other.latest(store).text == "new"
    memory = broadcast.Board()
    assert memory.post("only here\nsecond line").text == "only here second line"
    assert memory.latest().text == "only here second line"
    memory.clear()
    assert memory.latest() is None
    store.close()


def stored_registry(data_dir) -> StoredRegistry:
    persistence = Persistence(StoreWriter(lambda: RunStore.open(data_dir=data_dir), flush_every=0.2).start())
    registry = StoredRegistry(limits=replace(LIMITS, max_concurrent=1), persistence=persistence)
    persistence.resume_saved(registry)
    assert persistence.resumed.wait(30)
    return registry
