"""The run store: every workspace's runs, their history, samples and latest checkpoint, in a
database that outlives the process (SQLAlchemy Core; SQLite by default, PostgreSQL to share).

    store = RunStore.open()                  # PLAYGROUND_DATABASE_URL, else a SQLite file in
                                             # PLAYGROUND_DATA_DIR (store_records.py)
    store.save_workspace(token)              # the token is kept only as its sha256
    store.save_run(RunRecord.for_token(token, run_id=..., model_config=..., train_config=...))
    store.append_history(run_id, rows)       # upsert by step
    store.put_checkpoint(run_id, step, data) # the latest per run
    store.runs_of(token); store.history(run_id); store.latest_checkpoint(run_id)

Every method is one transaction and may raise SQLAlchemy's errors: the training path never
calls it directly but through store_writer.StoreWriter (batched, off the training thread,
retried). Tables and schema versions: store_schema.py; records: store_records.py.
"""
from __future__ import annotations

import hmac
import logging
import math
import os
import time
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, delete, event, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from . import store_schema as S
from .store_records import (ACTIVE_STATUSES, HASH, SQLITE_NAME, RunRecord, WorkspaceRecord, data_dir_from_env,
                            describe_error, hash_token, prepare_data_dir)
from .run_setup import text_hash      # a corpus's key in the corpora table
from .store_reads import StoreReads
from .store_schema import StoreError

log = logging.getLogger(__name__)
CHUNK = 500        # rows per statement (SQLite limits bound parameters per statement)
RUN_FIELDS = tuple(c.name for c in S.runs.columns)


class RunStore(StoreReads):
    """Writes and housekeeping here; reads in store_reads.StoreReads."""

    def __init__(self, engine: Engine, where: str):
        """Use RunStore.open(); `where` names the database in messages (no password)."""
        self.engine, self.where = engine, where

    @classmethod
    def open(cls, url: str | None = None, data_dir: str | Path | None = None,
             env: dict | None = None) -> "RunStore":
        """The store at `url`, else PLAYGROUND_DATABASE_URL, else playground.sqlite in `data_dir`
        (else PLAYGROUND_DATA_DIR, else .playground-data). Creates or upgrades the schema;
        StoreError with a clear message if the database cannot be used."""
        env = os.environ if env is None else env
        url = url or env.get("PLAYGROUND_DATABASE_URL", "").strip() or None
        if url is None:
            folder = prepare_data_dir(Path(data_dir) if data_dir else data_dir_from_env(env))
            url = f"sqlite:///{folder / SQLITE_NAME}"
        engine, where = make_engine(url)
        try:
            S.ensure_schema(engine, where)
        except StoreError:
            engine.dispose()
            raise
        except SQLAlchemyError as e:
            engine.dispose()
            raise StoreError(f"the run store at {where} cannot be used: {describe_error(e)}") from e
        return cls(engine, where)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def begin(self):
        """One transaction (the writer batches many operations in one)."""
        with self.engine.begin() as conn:
            yield conn

    def schema_version(self) -> int:
        with self.begin() as conn:
            return int(conn.execute(select(S.meta.c.value).where(S.meta.c.key == "schema_version")).scalar())

    # ---- workspaces --------------------------------------------------------------------------
    def save_workspace(self, token: str, display_name: str | None = None, now: float | None = None) -> WorkspaceRecord:
        """Create the workspace (or mark it seen now); sets the display name if one is given."""
        with self.begin() as conn:
            return upsert_workspace(conn, hash_token(token), display_name, now or time.time())

    def find_workspace(self, token: str) -> WorkspaceRecord | None:
        h = hash_token(token)
        with self.begin() as conn:
            row = conn.execute(select(S.workspaces).where(S.workspaces.c.token_hash == h)).first()
        if row is None or not hmac.compare_digest(row.token_hash, h):
            return None
        return WorkspaceRecord(**row._mapping)

    def touch_workspace(self, token: str, now: float | None = None) -> bool:
        """Mark the workspace seen now (it is culled PLAYGROUND_KEEP_DAYS after); False if unknown."""
        with self.begin() as conn:
            return touch(conn, hash_token(token), now or time.time())

    def workspaces(self, seen_since: float = 0.0) -> list[WorkspaceRecord]:
        """Workspaces seen since a time, oldest first (the Room's learners)."""
        with self.begin() as conn:
            rows = conn.execute(select(S.workspaces).where(S.workspaces.c.last_seen >= seen_since)
                                .order_by(S.workspaces.c.created_at)).all()
        return [WorkspaceRecord(**r._mapping) for r in rows]

    # ---- runs ------------------------------------------------------------------------------
    def save_run(self, record: RunRecord) -> None:
        """Insert or replace the run (its workspace is created if it has no row yet)."""
        with self.begin() as conn:
            save_run(conn, record, time.time())

    def update_run_status(self, run_id: str, status: str, step: int | None = None, **fields) -> bool:
        """Set status (and step, message, target_step, running_seconds, node, placement,
        label, settings if given); False if there is no such run."""
        with self.begin() as conn:
            return update_run(conn, run_id, dict(fields, status=str(status), step=step), time.time())

    def get_run(self, run_id: str) -> RunRecord | None:
        with self.begin() as conn:
            row = conn.execute(select(S.runs).where(S.runs.c.run_id == run_id)).first()
        return RunRecord(**row._mapping) if row else None

    def runs_of(self, token: str) -> list[RunRecord]:
        """The workspace's runs, oldest first."""
        return self._runs(S.runs.c.workspace == hash_token(token))

    def runs(self, statuses: tuple[str, ...] | None = None) -> list[RunRecord]:
        """Every run (of the given statuses), oldest first."""
        return self._runs(S.runs.c.status.in_([str(s) for s in statuses]) if statuses else None)

    def all_active_runs(self) -> list[RunRecord]:
        """Runs that were queued, running or paused: what to resume after a restart."""
        return self.runs(ACTIVE_STATUSES)

    def _runs(self, where) -> list[RunRecord]:
        q = select(S.runs).order_by(S.runs.c.created_at, S.runs.c.run_id)
        with self.begin() as conn:
            rows = conn.execute(q if where is None else q.where(where)).all()
        return [RunRecord(**r._mapping) for r in rows]

    def delete_run(self, run_id: str) -> None:
        with self.begin() as conn:
            delete_runs(conn, [run_id])

    # ---- history and samples ---------------------------------------------------------------
    def append_history(self, run_id: str, rows: list) -> None:
        """Upsert rows (front.HistoryRow or their dicts) by step: a row sent again with its
        validation loss filled in replaces the stored one."""
        with self.begin() as conn:
            upsert_history(conn, run_id, rows)

    def truncate_history(self, run_id: str, last_step: int) -> None:
        """Forget rows after `last_step` (a diverged run rolled its weights back)."""
        with self.begin() as conn:
            conn.execute(delete(S.history).where(S.history.c.run_id == run_id, S.history.c.step > last_step))

    def add_sample(self, run_id: str, sample) -> None:
        """A generated sample (front.Sample or a dict with its fields)."""
        with self.begin() as conn:
            insert_samples(conn, [(run_id, sample)], time.time())

    # ---- checkpoints and corpora -----------------------------------------------------------
    def put_checkpoint(self, run_id: str, step: int, data: bytes, now: float | None = None) -> None:
        """Keep `data` as the run's latest checkpoint (replacing the one before)."""
        with self.begin() as conn:
            put_checkpoint(conn, run_id, step, data, now or time.time())

    def put_corpus(self, text_: str) -> str:
        """Store a text once; its sha256 hex (the runs' corpus_hash)."""
        h = text_hash(text_)
        with self.begin() as conn:
            insert_corpus(conn, h, text_, time.time())
        return h

    # ---- the room ---------------------------------------------------------------------------
    def add_broadcast(self, text_: str, now: float | None = None) -> int:
        with self.begin() as conn:
            return conn.execute(S.broadcasts.insert().values(text=text_, created_at=now or time.time())
                                ).inserted_primary_key[0]

    def delete_broadcast(self, id_: int) -> None:
        with self.begin() as conn:
            conn.execute(delete(S.broadcasts).where(S.broadcasts.c.id == id_))

    # ---- housekeeping ------------------------------------------------------------------------
    def cull(self, keep_days: float, now: float | None = None) -> int:
        """Delete workspaces unseen for `keep_days` with all their runs (and corpora no run
        uses any more, if as old); the number of workspaces deleted."""
        cutoff = (now or time.time()) - keep_days * 86400
        w, r = S.workspaces.c, S.runs.c
        with self.begin() as conn:
            old = [h for (h,) in conn.execute(select(w.token_hash).where(w.last_seen < cutoff))]
            for i in range(0, len(old), CHUNK):
                chunk = old[i:i + CHUNK]
                delete_runs(conn, [x for (x,) in conn.execute(select(r.run_id).where(r.workspace.in_(chunk)))])
                conn.execute(delete(S.workspaces).where(w.token_hash.in_(chunk)))
            used = select(r.corpus_hash).where(r.corpus_hash.is_not(None))
            conn.execute(delete(S.corpora).where(S.corpora.c.created_at < cutoff, S.corpora.c.hash.not_in(used)))
        if old:
            log.info("run store: culled %d workspace(s) unseen for %g days", len(old), keep_days)
        return len(old)

# ---- one operation on an open transaction (the writer batches these) -------------------------
def upsert_workspace(conn: Connection, token_hash: str, display_name: str | None, now: float) -> WorkspaceRecord:
    w = S.workspaces.c
    values = {"last_seen": now, **({"display_name": display_name} if display_name is not None else {})}
    if not conn.execute(update(S.workspaces).where(w.token_hash == token_hash).values(**values)).rowcount:
        conn.execute(S.workspaces.insert().values(token_hash=token_hash, display_name=display_name,
                                                  created_at=now, last_seen=now))
    return WorkspaceRecord(**conn.execute(select(S.workspaces).where(w.token_hash == token_hash)).one()._mapping)


def touch(conn: Connection, token_hash: str, now: float) -> bool:
    w = S.workspaces.c
    return bool(conn.execute(update(S.workspaces).where(w.token_hash == token_hash).values(last_seen=now)).rowcount)


def save_run(conn: Connection, record: RunRecord, now: float) -> None:
    if not HASH.fullmatch(record.workspace or ""):
        raise ValueError("RunRecord.workspace must be hash_token(token), never the token itself")
    w = S.workspaces.c
    if conn.execute(select(w.token_hash).where(w.token_hash == record.workspace)).first() is None:
        conn.execute(S.workspaces.insert().values(token_hash=record.workspace, created_at=now, last_seen=now))
    values = {f: getattr(record, f) for f in RUN_FIELDS}
    values.update(status=str(record.status), created_at=record.created_at or now,
                  updated_at=record.updated_at or now)
    if not conn.execute(update(S.runs).where(S.runs.c.run_id == record.run_id)
                        .values(**{k: v for k, v in values.items() if k not in ("run_id", "created_at")})).rowcount:
        conn.execute(S.runs.insert().values(**values))


def update_run(conn: Connection, run_id: str, fields: dict, now: float) -> bool:
    unknown = set(fields) - set(RUN_FIELDS)
    if unknown:
        raise ValueError(f"runs have no field(s) {', '.join(sorted(unknown))}")
    values = {k: v for k, v in fields.items() if v is not None}
    return bool(conn.execute(update(S.runs).where(S.runs.c.run_id == run_id)
                             .values(**values, updated_at=now)).rowcount)


def delete_runs(conn: Connection, run_ids: list[str]) -> None:
    for i in range(0, len(run_ids), CHUNK):
        chunk = run_ids[i:i + CHUNK]
        for table in (S.history, S.samples, S.checkpoints, S.runs):
            conn.execute(delete(table).where(table.c.run_id.in_(chunk)))


def upsert_history(conn: Connection, run_id: str, rows: list) -> None:
    values = [_history_values(run_id, r) for r in rows]
    for i in range(0, len(values), CHUNK):
        chunk = values[i:i + CHUNK]
        steps, h = [v["step"] for v in chunk], S.history.c
        contiguous = len(set(steps)) == len(steps) == max(steps) - min(steps) + 1   # the usual case
        conn.execute(delete(S.history).where(h.run_id == run_id, h.step.between(min(steps), max(steps))
                                             if contiguous else h.step.in_(steps)))
        conn.execute(S.history.insert(), chunk)


def insert_samples(conn: Connection, samples: list[tuple[str, object]], now: float) -> None:
    names = ("step", "prefix", "greedy", "sampled", "temperature")
    values = [dict(run_id=run_id, created_at=now, **{n: _field(s, n) for n in names}) for run_id, s in samples]
    if values:
        conn.execute(S.samples.insert(), values)


def insert_corpus(conn: Connection, hash_: str, text_: str, now: float) -> None:
    """Store a text under its sha256 unless it is stored already."""
    if conn.execute(select(S.corpora.c.hash).where(S.corpora.c.hash == hash_)).first() is None:
        conn.execute(S.corpora.insert().values(hash=hash_, text=text_, chars=len(text_), created_at=now))


def put_checkpoint(conn: Connection, run_id: str, step: int, data: bytes, now: float) -> None:
    values = dict(step=int(step), size=len(data), data=bytes(data), created_at=now)
    if not conn.execute(update(S.checkpoints).where(S.checkpoints.c.run_id == run_id).values(**values)).rowcount:
        conn.execute(S.checkpoints.insert().values(run_id=run_id, **values))


def make_engine(url: str) -> tuple[Engine, str]:
    """An engine for `url` (SQLite: WAL, a busy timeout, foreign keys on; PostgreSQL: a
    connect timeout, connections checked before use) and a printable name for it."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(parsed, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine, parsed.database or "an in-memory SQLite database"
    args = {"connect_timeout": 5} if parsed.get_backend_name() == "postgresql" else {}
    engine = create_engine(parsed, pool_pre_ping=True, connect_args=args)
    return engine, parsed.render_as_string(hide_password=True)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _field(obj, name: str):
    return obj[name] if isinstance(obj, dict) else getattr(obj, name)


def _finite_or_none(x):
    return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else x


def _history_values(run_id: str, row) -> dict:
    d = row if isinstance(row, dict) else vars(row)
    v = {n: d.get(n) for n in S.HISTORY_COLUMNS}
    v.update(run_id=run_id, step=int(v["step"]), clipped=bool(v["clipped"]), annealed=bool(v["annealed"]),
             lr=float(v["lr"] or 0.0), epoch=int(v["epoch"] or 0),
             val_loss=_finite_or_none(v["val_loss"]), val_bits_per_char=_finite_or_none(v["val_bits_per_char"]))
    return v
