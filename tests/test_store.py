"""The run store against real databases: SQLite and PostgreSQL (see store_fixtures)."""
from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import inspect, text

from playground import store_schema as S
from playground.store import RunStore
from playground.run_setup import text_hash
from playground.store_records import RunRecord, hash_token
from playground.store_schema import StoreError
from store_fixtures import DAY, TOKEN, pg_base, row, run, store_url  # noqa: F401  (fixtures)

@pytest.fixture
def store(store_url):
    s = RunStore.open(store_url)
    yield s
    s.close()


def set_version(url, value):
    s = RunStore.open(url)
    with s.begin() as conn:
        conn.execute(S.meta.update().where(S.meta.c.key == "schema_version").values(value=value))
    s.close()


# ---- schema ---------------------------------------------------------------------------------
def test_schema_created_with_its_version(store):
    assert store.schema_version() == S.SCHEMA_VERSION
    tables = set(inspect(store.engine).get_table_names())
    assert {"meta", "workspaces", "runs", "history", "samples", "checkpoints", "corpora", "broadcasts"} <= tables


def test_newer_schema_is_refused_with_a_clear_message(store_url):
    set_version(store_url, str(S.SCHEMA_VERSION + 1))
    with pytest.raises(StoreError, match=r"newer RNN Playground \(schema version 2; this version reads up to 1\)"):
        RunStore.open(store_url)


def test_unreadable_version_is_refused(store_url):
    set_version(store_url, "banana")
    with pytest.raises(StoreError, match="no readable schema version"):
        RunStore.open(store_url)


def test_our_tables_without_meta_are_refused(store_url):
    s = RunStore.open(store_url)
    S.meta.drop(s.engine)
    s.close()
    with pytest.raises(StoreError, match="no schema version"):
        RunStore.open(store_url)


def test_older_schema_is_upgraded_step_by_step(store_url, monkeypatch):
    s = RunStore.open(store_url)
    s.save_workspace(TOKEN)
    s.close()
    added = []

    def to_v2(conn):
        conn.execute(text("ALTER TABLE workspaces ADD COLUMN colour INTEGER DEFAULT 0"))
        added.append(2)

    monkeypatch.setattr(S, "SCHEMA_VERSION", 2)
    monkeypatch.setitem(S.MIGRATIONS, 1, to_v2)
    s = RunStore.open(store_url)
    assert added == [2] and s.schema_version() == 2
    assert "colour" in {c["name"] for c in inspect(s.engine).get_columns("workspaces")}
    assert s.find_workspace(TOKEN) is not None        # the data survived the upgrade
    s.close()
    s = RunStore.open(store_url)                      # already upgraded: not migrated twice
    assert added == [2]
    s.close()


def test_older_schema_without_a_migration_is_refused(store_url, monkeypatch):
    RunStore.open(store_url).close()
    monkeypatch.setattr(S, "SCHEMA_VERSION", 2)
    with pytest.raises(StoreError, match="schema version 1, which this version of RNN Playground cannot upgrade"):
        RunStore.open(store_url)


# ---- workspaces and tokens ------------------------------------------------------------------
def test_workspace_found_by_its_token_only(store):
    w = store.save_workspace(TOKEN, now=100.0)
    assert w.token_hash == hash_token(TOKEN) != TOKEN and w.created_at == w.last_seen == 100.0
    assert store.find_workspace(TOKEN).token_hash == w.token_hash
    assert store.find_workspace(TOKEN[:-1] + "X") is None
    assert store.touch_workspace(TOKEN, now=200.0) and store.find_workspace(TOKEN).last_seen == 200.0
    assert not store.touch_workspace("unknown")
    store.save_workspace(TOKEN, display_name="Ada", now=300.0)
    w = store.find_workspace(TOKEN)
    assert (w.display_name, w.created_at, w.last_seen) == ("Ada", 100.0, 300.0)
    store.save_workspace(TOKEN, now=400.0)                     # no name given: the name stays
    assert store.find_workspace(TOKEN).display_name == "Ada"
    assert [x.token_hash for x in store.workspaces(seen_since=350.0)] == [w.token_hash]


def test_raw_token_is_not_in_the_database_file(tmp_path):
    s = RunStore.open(data_dir=tmp_path)
    s.save_workspace(TOKEN, display_name="Ada")
    s.save_run(run(status="running"))
    s.append_history("r1", [row(1)])
    s.put_checkpoint("r1", 1, b"weights")
    s.close()
    files = [p for p in tmp_path.iterdir() if p.name.startswith("playground.sqlite")]
    data = b"".join(p.read_bytes() for p in files)
    assert TOKEN.encode() not in data and TOKEN[:12].encode() not in data
    assert hash_token(TOKEN).encode() in data and b"Ada" in data   # the grep would find it if it were there


def test_a_record_holding_the_raw_token_is_refused(store):
    with pytest.raises(ValueError, match="never the token itself"):
        store.save_run(RunRecord(run_id="r1", workspace=TOKEN, model_config={}, train_config={}))


# ---- runs, history, samples, checkpoints ----------------------------------------------------
def test_run_round_trip_and_status(store):
    store.save_run(run("r1", label="GRU 64", status="queued", target_step=500, corpus_key="tiny_shakespeare",
                       settings={"eval_every": 50}))
    store.save_run(run("r2", token="other-token", status="finished"))
    r = store.get_run("r1")
    assert (r.label, r.status, r.target_step, r.corpus_key, r.settings) == ("GRU 64", "queued", 500, "tiny_shakespeare",
                                                                            {"eval_every": 50})
    assert r.model_config == {"cell": "GRU", "hidden_size": 64} and r.train_config["sampler"] == "random"
    assert store.update_run_status("r1", "running", step=40, running_seconds=3.5, node="n1", placement="actor-2")
    r = store.get_run("r1")
    assert (r.status, r.step, r.running_seconds, r.node, r.placement, r.label) == ("running", 40, 3.5, "n1",
                                                                                    "actor-2", "GRU 64")
    assert r.updated_at >= r.created_at
    assert not store.update_run_status("nope", "running")
    with pytest.raises(ValueError, match="no field"):
        store.update_run_status("r1", "running", colour="red")
    assert [x.run_id for x in store.runs_of(TOKEN)] == ["r1"]
    assert [x.run_id for x in store.all_active_runs()] == ["r1"]
    assert [x.run_id for x in store.runs(("finished",))] == ["r2"]
    store.save_run(run("r1", label="renamed", status="paused", step=41))   # save again: replaced
    assert (store.get_run("r1").label, store.get_run("r1").created_at) == ("renamed", r.created_at)


def test_history_upserts_by_step_truncates_and_gives_val_curves(store):
    store.save_run(run("r1"))
    store.append_history("r1", [row(s) for s in range(1, 6)])
    store.append_history("r1", [row(5, val_loss=1.25, val_bits_per_char=1.8, annealed=True), row(6)])
    h = store.history("r1")
    assert [r["step"] for r in h] == [1, 2, 3, 4, 5, 6]
    assert h[4] == row(5, val_loss=1.25, val_bits_per_char=1.8, annealed=True)
    assert h[0]["val_loss"] is None and h[1]["clipped"] is True and h[0]["clipped"] is False
    store.append_history("r1", [row(7, val_loss=float("nan"))])   # not measurable: stored as None
    assert store.history("r1")[-1]["val_loss"] is None
    store.truncate_history("r1", 4)
    assert [r["step"] for r in store.history("r1")] == [1, 2, 3, 4]
    store.append_history("r1", [row(5, val_loss=1.5), row(10, val_loss=1.0)])
    store.save_run(run("r2"))
    assert store.val_curves(["r1", "r2"]) == {"r1": [(5, 1.5, None), (10, 1.0, None)], "r2": []}
    assert store.val_curves() == {"r1": [(5, 1.5, None), (10, 1.0, None)]}


def test_long_history_is_written_in_chunks(store):
    store.save_run(run("r1"))
    store.append_history("r1", [row(s) for s in range(1, 2_001)])
    assert len(store.history("r1")) == 2_000


def test_samples_and_checkpoint_round_trip(store):
    store.save_run(run("r1"))
    store.add_sample("r1", dict(step=100, prefix="Th", greedy="e the", sampled="ere ö", temperature=0.8))
    store.add_sample("r1", dict(step=200, prefix="Th", greedy="e king", sampled="ou art", temperature=0.8))
    assert [s["greedy"] for s in store.samples("r1")] == ["e the", "e king"]
    assert store.samples("r1")[0]["sampled"] == "ere ö"
    assert store.latest_checkpoint("r1") is None
    blob = bytes(range(256)) * 4000                               # ~1 MB, every byte value
    store.put_checkpoint("r1", 100, blob, now=5.0)
    store.put_checkpoint("r1", 200, blob[::-1], now=6.0)           # the latest replaces it
    c = store.latest_checkpoint("r1")
    assert (c.step, c.data, c.created_at) == (200, blob[::-1], 6.0)
    assert store.size_report().checkpoints == 1


def test_delete_run_removes_everything_of_it(store):
    store.save_run(run("r1"))
    store.save_run(run("r2"))
    store.append_history("r1", [row(1)])
    store.add_sample("r1", dict(step=1, prefix="", greedy="a", sampled="b", temperature=1.0))
    store.put_checkpoint("r1", 1, b"x")
    store.delete_run("r1")
    assert store.get_run("r1") is None and store.history("r1") == [] and store.samples("r1") == []
    assert store.latest_checkpoint("r1") is None and [r.run_id for r in store.runs_of(TOKEN)] == ["r2"]


def test_corpus_text_is_stored_once(store):
    text_ = "To be, or not to be — ça va?\n" * 100
    h1, h2 = store.put_corpus(text_), store.put_corpus(text_)
    assert h1 == h2 == text_hash(text_) and store.corpus(h1) == text_
    assert store.size_report().per_table["corpora"] == 1
    assert store.corpus("0" * 64) is None
    store.save_run(run("r1", corpus_hash=h1))
    assert store.get_run("r1").corpus_hash == h1


def test_cull_deletes_workspaces_unseen_for_keep_days_with_their_runs(store):
    now = 100 * DAY
    store.save_workspace("old-token", now=now - 8 * DAY)
    store.save_workspace(TOKEN, now=now - 6 * DAY)
    used = store.put_corpus("kept by a fresh run's text")
    orphan = store.put_corpus("only the old run's text")
    with store.begin() as conn:                                   # the corpora are as old as their runs
        conn.execute(S.corpora.update().values(created_at=now - 9 * DAY))
    store.save_run(run("old-run", token="old-token", corpus_hash=orphan))
    store.save_run(run("new-run", corpus_hash=used))
    store.append_history("old-run", [row(1)])
    store.put_checkpoint("old-run", 1, b"x")
    with store.begin() as conn:                                   # save_run marks them seen: age them again
        conn.execute(S.workspaces.update().where(S.workspaces.c.token_hash == hash_token("old-token"))
                     .values(last_seen=now - 8 * DAY))
        conn.execute(S.workspaces.update().where(S.workspaces.c.token_hash == hash_token(TOKEN))
                     .values(last_seen=now - 6 * DAY))
    assert store.cull(keep_days=7, now=now) == 1
    assert store.find_workspace("old-token") is None and store.find_workspace(TOKEN) is not None
    assert store.get_run("old-run") is None and store.history("old-run") == []
    assert store.latest_checkpoint("old-run") is None
    assert store.corpus(orphan) is None and store.corpus(used) is not None
    assert store.cull(keep_days=7, now=now) == 0


def test_broadcasts(store):
    a = store.add_broadcast("Look at the GRU runs", now=1.0)
    b = store.add_broadcast("Break until 11:00", now=2.0)
    assert [m.text for m in store.broadcasts()] == ["Look at the GRU runs", "Break until 11:00"]
    assert [m.id for m in store.broadcasts(since_id=a)] == [b]
    assert [m.text for m in store.broadcasts(limit=1)] == ["Break until 11:00"]
    store.delete_broadcast(a)
    assert [m.id for m in store.broadcasts()] == [b]


def test_size_report(store):
    store.save_run(run("r1"))
    store.append_history("r1", [row(s) for s in range(1, 101)])
    store.put_checkpoint("r1", 100, b"z" * 50_000)
    rep = store.size_report()
    assert (rep.workspaces, rep.runs, rep.history_rows, rep.checkpoints, rep.checkpoint_bytes) == (1, 1, 100, 1, 50_000)
    assert rep.database_bytes > 50_000 and rep.bytes_per_run == rep.database_bytes


# ---- where the store lives, and when it cannot be used -----------------------------------------
def test_default_is_a_sqlite_file_in_the_data_dir_created_on_first_use(tmp_path):
    folder = tmp_path / "new" / "data"
    s = RunStore.open(env={"PLAYGROUND_DATA_DIR": str(folder)})
    assert (folder / "playground.sqlite").exists() and s.where == str(folder / "playground.sqlite")
    with s.begin() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 5000
    s.close()


def test_database_url_from_the_environment_wins(tmp_path):
    url = f"sqlite:///{tmp_path / 'elsewhere.sqlite'}"
    s = RunStore.open(env={"PLAYGROUND_DATABASE_URL": url, "PLAYGROUND_DATA_DIR": str(tmp_path / "unused")})
    assert s.where.endswith("elsewhere.sqlite") and not (tmp_path / "unused").exists()
    s.close()


def test_a_data_dir_that_is_a_file_gives_one_clear_message(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError) as e:
        RunStore.open(env={"PLAYGROUND_DATA_DIR": str(tmp_path / "file")})
    assert str(e.value).startswith(f"PLAYGROUND_DATA_DIR={tmp_path / 'file'} cannot be used: it is a file, not a folder")
    assert "NOT saved" in str(e.value)


@pytest.mark.skipif(__import__("os").geteuid() == 0, reason="root writes into read-only folders; "
                    "test_store_writer covers a read-only database as root")
def test_a_read_only_data_dir_gives_one_clear_message(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o500)
    with pytest.raises(StoreError, match="cannot be used: the folder or database is read-only"):
        RunStore.open(data_dir=folder)


def test_a_corrupt_database_file_is_refused_clearly(tmp_path):
    (tmp_path / "playground.sqlite").write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="cannot be used: the database file is damaged"):
        RunStore.open(data_dir=tmp_path)


def test_another_apps_sqlite_tables_are_left_alone(tmp_path):
    path = tmp_path / "playground.sqlite"
    with sqlite3.connect(path) as c:
        c.execute("CREATE TABLE notes (x)")
    s = RunStore.open(data_dir=tmp_path)
    assert "notes" in inspect(s.engine).get_table_names() and s.schema_version() == S.SCHEMA_VERSION
    s.close()


def test_unreachable_postgres_is_a_clear_message():
    from postgres_cluster import _free_port
    with pytest.raises(StoreError, match="cannot be used: the database cannot be reached"):
        RunStore.open(f"postgresql+psycopg2://postgres@127.0.0.1:{_free_port()}/postgres")


