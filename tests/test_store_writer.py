"""The store's write-behind: batched, off the caller's thread, retried, honest about failing."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import event

from conftest import wait_until
from playground.store import RunStore
from playground.store_records import RunRecord
from playground.store_schema import StoreError
from playground.store_writer import StoreWriter
from postgres_cluster import _free_port
from store_fixtures import TOKEN, pg_base, row, run, store_url  # noqa: F401  (fixtures)


class CountingStore(RunStore):
    """A RunStore that counts its transactions and the threads they ran on."""

    def __init__(self, engine, where):
        super().__init__(engine, where)
        self.transactions, self.threads = 0, set()

    def begin(self):
        self.transactions += 1
        self.threads.add(threading.current_thread().name)
        return super().begin()


@pytest.fixture
def store(store_url):
    s = CountingStore.open(store_url)
    yield s
    s.close()


def test_writes_are_batched_on_the_writer_thread(store):
    w = StoreWriter(store, flush_every=3600).start()      # only flush() (and a new run) writes here
    w.save_workspace(TOKEN)
    w.save_run(run("r1", status="running"))
    assert w.flush(timeout=30)
    before = store.transactions
    for s in range(1, 201):
        w.append_history("r1", [row(s)])
    w.append_history("r1", [row(200, val_loss=1.1)])      # the validation loss lands after the step
    w.update_run_status("r1", "running", step=200)
    w.add_sample("r1", dict(step=200, prefix="a", greedy="b", sampled="c", temperature=1.0))
    assert store.transactions == before and w.health.pending > 0
    assert w.flush(timeout=30)
    assert store.transactions == before + 1 and store.threads == {"store-writer"}
    h = store.history("r1")
    assert len(h) == 200 and h[-1]["val_loss"] == 1.1 and store.get_run("r1").step == 200
    assert len(store.samples("r1")) == 1 and w.health.saving and w.health.message == "saving"
    w.close()


def test_a_new_run_s_record_is_written_at_once_not_at_the_next_flush(store):
    """A hall's front killed seconds after a learner's Start: the other front did not find the
    run (its record waited up to flush_every in the queue), and the page came back empty."""
    w = StoreWriter(store, flush_every=3600).start()
    w.save_workspace(TOKEN)                               # not urgent: waits for the flush
    assert not wait_until(lambda: w.health.pending == 0, timeout=0.5)
    w.save_run(run("r1", status="running"))              # urgent: written with what was queued
    assert wait_until(lambda: w.health.pending == 0, timeout=60)
    assert store.get_run("r1").status == "running"
    w.close()


def test_history_is_flushed_every_few_seconds_without_asking(store):
    w = StoreWriter(store, flush_every=0.2).start()
    w.save_run(run("r1"))
    w.append_history("r1", [row(1)])
    deadline = threading.Event()
    for _ in range(100):
        if store.history("r1"):
            break
        deadline.wait(0.1)
    assert [r["step"] for r in store.history("r1")] == [1]
    w.close()


def test_checkpoint_is_made_and_written_on_the_writer_thread(store):
    w = StoreWriter(store, flush_every=3600).start()
    made_on = []
    w.save_run(run("r1"))
    w.put_checkpoint("r1", 10, lambda: made_on.append(threading.current_thread().name) or b"old")
    w.put_checkpoint("r1", 20, lambda: made_on.append(threading.current_thread().name) or b"new")
    assert w.flush(timeout=30)
    c = store.latest_checkpoint("r1")
    assert (c.step, c.data) == (20, b"new") and made_on in (["store-writer"], ["store-writer"] * 2)
    w.close()


def test_a_deleted_run_and_a_rolled_back_history(store):
    w = StoreWriter(store, flush_every=3600).start()
    w.save_run(run("r1"))
    w.save_run(run("r2"))
    w.append_history("r1", [row(s) for s in range(1, 11)])
    w.truncate_history("r1", 6)                           # diverged: rows after 6 are void
    w.append_history("r1", [row(7, loss=9.0)])
    w.append_history("r2", [row(1)])
    w.delete_run("r2")
    assert w.flush(timeout=30)
    assert [r["step"] for r in store.history("r1")] == list(range(1, 8)) and store.history("r1")[-1]["loss"] == 9.0
    assert store.get_run("r2") is None
    w.append_history("r2", [row(2)])                      # a late row of the deleted run: dropped, logged
    w.append_history("r1", [row(8)])
    assert w.flush(timeout=30) and w.health.saving
    assert store.history("r2") == [] and len(store.history("r1")) == 8
    w.close()


def test_queue_is_capped_and_says_so(store):
    w = StoreWriter(store, flush_every=3600, max_pending_rows=5)
    w.save_run(run("r1"))
    w.append_history("r1", [row(s) for s in range(1, 9)])
    assert w.health.dropped_rows == 3
    assert w.flush(timeout=30) and len(store.history("r1")) == 5
    w.close()


# ---- failures: training goes on, the page says why, writes are retried ---------------------------
def test_disk_full_is_reported_retried_and_recovered(tmp_path, caplog):
    store = RunStore.open(data_dir=tmp_path)
    store.save_run(run("r1"))

    def tiny(dbapi_conn, _):
        dbapi_conn.execute("PRAGMA max_page_count=1")      # SQLite's SQLITE_FULL, as on a full disk
    event.listen(store.engine, "connect", tiny)
    store.engine.dispose()
    w = StoreWriter(store, flush_every=3600, retry_min=0.05, retry_max=0.2).start()
    w.put_checkpoint("r1", 5, b"x" * 200_000)
    assert not w.flush(timeout=1.0)
    assert w.health.message.startswith("not saving: the disk is full (1 change(s) waiting; retrying)")
    assert "not saving (the disk is full)" in caplog.text and "database or disk is full" in caplog.text
    event.remove(store.engine, "connect", tiny)           # space freed
    store.engine.dispose()
    assert w.flush(timeout=30) and w.health.saving
    assert store.latest_checkpoint("r1").step == 5
    w.close()
    store.close()


def test_read_only_database_is_reported(tmp_path):
    RunStore.open(data_dir=tmp_path).close()
    ro = RunStore.open(f"sqlite:///file:{tmp_path / 'playground.sqlite'}?mode=ro&uri=true")
    w = StoreWriter(ro, flush_every=3600, retry_min=0.05, retry_max=0.2).start()
    w.save_workspace(TOKEN)
    assert not w.flush(timeout=1.0)
    assert w.health.message.startswith("not saving: the folder or database is read-only")
    w.close(timeout=0.1)
    ro.close()


def test_unreachable_database_at_startup_is_retried_until_it_answers(tmp_path):
    target = {"url": f"postgresql+psycopg2://postgres@127.0.0.1:{_free_port()}/postgres"}
    w = StoreWriter(lambda: RunStore.open(target["url"]), flush_every=3600, retry_min=0.05, retry_max=0.2).start()
    w.save_run(RunRecord.for_token(TOKEN, run_id="r1", model_config={}, train_config={}))
    w.append_history("r1", [row(1)])                     # returns at once: nothing waits for the database
    assert not w.flush(timeout=1.5)
    assert w.health.message == (f"not saving: the run store at {target['url']} cannot be used: the database "
                                "cannot be reached (2 change(s) waiting; retrying)")
    assert w.store is None
    target["url"] = f"sqlite:///{tmp_path / 'back.sqlite'}"   # the database is back
    assert w.flush(timeout=30) and w.health.saving
    assert [r["step"] for r in w.store.history("r1")] == [1]
    w.close()


def test_an_unusable_data_dir_is_the_health_reason(tmp_path):
    (tmp_path / "file").write_text("x")
    w = StoreWriter(lambda: RunStore.open(data_dir=tmp_path / "file"), flush_every=3600, retry_min=0.05).start()
    w.save_workspace(TOKEN)
    assert not w.flush(timeout=0.5)
    assert w.health.reason.startswith(f"PLAYGROUND_DATA_DIR={tmp_path / 'file'} cannot be used: it is a file")
    w.close(timeout=0.1)


def test_a_corrupt_database_is_the_health_reason(tmp_path):
    (tmp_path / "playground.sqlite").write_bytes(b"garbage" * 1000)
    w = StoreWriter(lambda: RunStore.open(data_dir=tmp_path), flush_every=3600, retry_min=0.05).start()
    w.save_workspace(TOKEN)
    assert not w.flush(timeout=0.5)
    assert "the database file is damaged" in w.health.reason
    w.close(timeout=0.1)
    with pytest.raises(StoreError):
        RunStore.open(data_dir=tmp_path)
