"""Write-behind for the run store: training never waits for the database.

    writer = StoreWriter(lambda: RunStore.open()).start()
    writer.append_history(run_id, rows)         # returns at once (a dict update under a lock)
    writer.put_checkpoint(run_id, step, make)   # bytes, or a function the writer thread calls
    writer.health.message                       # "saving" | "not saving: the disk is full"
    writer.flush()                              # at shutdown and in tests

One background thread takes everything queued, coalesced (history upserted by step, the latest
checkpoint and status per run), and writes it in one transaction at least every `flush_every`
seconds, at once when a checkpoint is queued or flush() is called. When the database fails
(disk full, read-only, unreachable, damaged) the batch stays queued and is retried with
backoff (retry_min doubling to retry_max); health says why, the log has the detail, nothing
raises. An operation the database refuses for good (e.g. history of a run deleted meanwhile)
is dropped with a log line. Queued history is capped at max_pending_rows (the rest dropped and
counted: the next checkpoint carries the whole history anyway).
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from . import store as st
from . import store_schema as S
from .run_setup import text_hash
from .store_records import RunRecord, describe_error, hash_token

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Health:
    saving: bool
    reason: str = ""        # why not, in a user's words
    since: float = 0.0      # time.time() of the first failure in a row
    pending: int = 0        # operations waiting
    dropped_rows: int = 0   # history rows not queued because the queue was full

    @property
    def message(self) -> str:
        if self.saving:
            return "saving"
        waiting = f" ({self.pending:,} change(s) waiting; retrying)" if self.pending else " (retrying)"
        return f"not saving: {self.reason}{waiting}"


class _Batch:
    """Queued changes, coalesced; applied in a fixed order (workspaces, corpora, runs, status,
    truncations, history, samples, checkpoints, deletions)."""

    def __init__(self):
        self.workspaces: dict[str, tuple] = {}        # hash -> (display_name, now)
        self.corpora: dict[str, str] = {}             # sha256 -> text (stored once)
        self.runs: dict[str, RunRecord] = {}
        self.status: dict[str, dict] = {}
        self.truncate: dict[str, int] = {}
        self.rows: dict[str, dict[int, object]] = {}  # run_id -> step -> row
        self.samples: list[tuple[str, object]] = []
        self.checkpoints: dict[str, tuple] = {}       # run_id -> (step, bytes | callable, now)
        self.deletes: set[str] = set()

    def __len__(self) -> int:
        return (len(self.workspaces) + len(self.corpora) + len(self.runs) + len(self.status) + len(self.truncate)
                + len(self.samples)
                + sum(map(len, self.rows.values())) + len(self.checkpoints) + len(self.deletes))

    def row_count(self) -> int:
        return sum(map(len, self.rows.values()))

    def workspace(self, token_hash: str, display_name: str | None, now: float) -> None:
        old = self.workspaces.get(token_hash)
        self.workspaces[token_hash] = (display_name if display_name is not None else old and old[0], now)

    def save_run(self, record: RunRecord) -> None:
        self.runs[record.run_id] = record     # the whole record: status queued before it is older
        self.status.pop(record.run_id, None)

    def truncate_history(self, run_id: str, last_step: int) -> None:
        self.truncate[run_id] = min(last_step, self.truncate.get(run_id, last_step))
        rows = self.rows.get(run_id, {})
        for step in [s for s in rows if s > last_step]:
            del rows[step]

    def delete_run(self, run_id: str) -> None:
        for d in (self.runs, self.status, self.truncate, self.rows, self.checkpoints):
            d.pop(run_id, None)
        self.samples = [s for s in self.samples if s[0] != run_id]
        self.deletes.add(run_id)

    def absorb(self, newer: "_Batch") -> None:
        """Add changes queued after this batch (this one failed and is retried with them)."""
        for h, (name, now) in newer.workspaces.items():
            self.workspace(h, name, now)
        self.corpora.update(newer.corpora)
        for record in newer.runs.values():
            self.save_run(record)
        for run_id, fields in newer.status.items():
            self.status.setdefault(run_id, {}).update(fields)
        for run_id, last in newer.truncate.items():
            self.truncate_history(run_id, last)
        for run_id, rows in newer.rows.items():
            self.rows.setdefault(run_id, {}).update(rows)
        self.samples += newer.samples
        self.checkpoints.update(newer.checkpoints)
        for run_id in newer.deletes:
            self.delete_run(run_id)

    def operations(self) -> list[tuple[str, Callable]]:
        """(what, fn(conn)) in apply order; checkpoint bytes are made here (the writer's thread)."""
        now, ops = time.time(), []
        ops += [(f"workspace {h[:8]}", lambda c, h=h, v=v: st.upsert_workspace(c, h, v[0], v[1]))
                for h, v in self.workspaces.items()]
        ops += [(f"corpus {h[:8]}", lambda c, h=h, t=t: st.insert_corpus(c, h, t, now)) for h, t in self.corpora.items()]
        ops += [(f"run {r}", lambda c, rec=rec: st.save_run(c, rec, now)) for r, rec in self.runs.items()]
        ops += [(f"status of {r}", lambda c, r=r, f=f: st.update_run(c, r, f, now)) for r, f in self.status.items()]
        ops += [(f"truncate {r}", lambda c, r=r, n=n: c.execute(
            delete(S.history).where(S.history.c.run_id == r, S.history.c.step > n))) for r, n in self.truncate.items()]
        ops += [(f"history of {r}", lambda c, r=r, rows=rows: st.upsert_history(c, r, [rows[s] for s in sorted(rows)]))
                for r, rows in self.rows.items() if rows]
        if self.samples:
            ops.append(("samples", lambda c: st.insert_samples(c, self.samples, now)))
        for r, (step, data, at) in list(self.checkpoints.items()):
            data, step = _made(r, data, step)
            self.checkpoints[r] = (step, data, at)    # made once, also if the batch is retried
            if data is not None:
                ops.append((f"checkpoint of {r}", lambda c, r=r, s=step, d=data, at=at: st.put_checkpoint(c, r, s, d, at)))
        if self.deletes:
            ops.append(("deletions", lambda c: st.delete_runs(c, sorted(self.deletes))))
        return ops


def _made(run_id: str, data, step: int) -> tuple:
    """(checkpoint bytes, step), calling the producer if one was queued (it may return bytes or
    (bytes, the step they were taken at)); bytes None, logged, if it fails."""
    if not callable(data):
        return data, step
    try:
        data = data()
    except Exception:   # a checkpoint that cannot be made is skipped; training goes on
        log.exception("run %s: the checkpoint could not be made; skipped", run_id)
        return None, step
    if isinstance(data, tuple):
        data, step = data
    return (data if isinstance(data, (bytes, bytearray)) else None), int(step)


class StoreWriter:
    """The run store's write-behind queue and its one writer thread (see the module docstring)."""

    def __init__(self, store: "st.RunStore | Callable[[], st.RunStore]", flush_every: float = 2.0,
                 retry_min: float = 0.5, retry_max: float = 30.0, max_pending_rows: int = 500_000):
        """`store`: an open RunStore, or a function that opens one (called on the writer's
        thread, retried like a write while it fails: an unreachable database at startup)."""
        self._store = None if callable(store) and not isinstance(store, st.RunStore) else store
        self._opener = store if self._store is None else None
        self.flush_every, self.retry_min, self.retry_max = flush_every, retry_min, retry_max
        self.max_pending_rows = max_pending_rows
        self._pending, self._lock = _Batch(), threading.Lock()
        self._writing = _Batch()         # the batch being written now (put back if it fails)
        self._wake = threading.Condition(self._lock)
        self._queued = self._written = 0       # operations queued / written (or dropped) so far
        self._health, self._dropped = Health(saving=True), 0
        self._closing, self._urgent, self._thread = False, False, None

    @property
    def store(self) -> "st.RunStore | None":
        """The open store (None until the writer has opened it)."""
        return self._store

    @property
    def usable_store(self) -> "st.RunStore | None":
        """The open store while saving works, else None (readers then fall back to memory)."""
        return self._store if self.health.saving else None

    @property
    def health(self) -> Health:
        with self._lock:
            h, pending = self._health, len(self._pending) + len(self._writing)
        return Health(h.saving, h.reason, h.since, pending, self._dropped)

    def start(self) -> "StoreWriter":
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="store-writer", daemon=True)
                self._thread.start()
        return self

    # ---- queueing (any thread; never touches the database) ---------------------------------
    def _queue(self, fn: Callable[[_Batch], None], urgent: bool = False) -> None:
        with self._lock:
            fn(self._pending)
            self._queued += 1
            if urgent:
                self._urgent = True
                self._wake.notify_all()

    def save_workspace(self, token: str, display_name: str | None = None) -> None:
        h, now = hash_token(token), time.time()
        self._queue(lambda b: b.workspace(h, display_name, now))

    touch_workspace = save_workspace

    def save_run(self, record: RunRecord) -> None:
        """A new run's record, written at once (a front that crashes seconds later keeps it)."""
        self._queue(lambda b: b.save_run(record), urgent=True)

    def put_corpus(self, text: str) -> str:
        """Queue a text to be stored once; its sha256 (a run's corpus_hash) at once."""
        h = text_hash(text)
        self._queue(lambda b: b.corpora.__setitem__(h, text))
        return h

    def update_run_status(self, run_id: str, status: str, step: int | None = None, **fields) -> None:
        changes = {k: v for k, v in dict(fields, status=str(status), step=step).items() if v is not None}
        self._queue(lambda b: b.status.setdefault(run_id, {}).update(changes))

    def append_history(self, run_id: str, rows: list) -> None:
        if not rows:
            return
        with self._lock:
            room = self.max_pending_rows - self._pending.row_count()
            if room < len(rows):
                self._dropped += len(rows) - max(room, 0)
                rows = rows[:max(room, 0)]
            if rows:
                self._pending.rows.setdefault(run_id, {}).update(
                    {int(st._field(r, "step")): r for r in rows})
                self._queued += 1

    def truncate_history(self, run_id: str, last_step: int) -> None:
        self._queue(lambda b: b.truncate_history(run_id, int(last_step)))

    def add_sample(self, run_id: str, sample) -> None:
        self._queue(lambda b: b.samples.append((run_id, sample)))

    def put_checkpoint(self, run_id: str, step: int, data: "bytes | Callable[[], bytes | tuple]") -> None:
        """Queue the run's checkpoint (replacing one still queued) and write it soon. A producer
        runs on the writer's thread and may return (bytes, step) when the step was not known."""
        now = time.time()
        self._queue(lambda b: b.checkpoints.__setitem__(run_id, (int(step), data, now)), urgent=True)

    def delete_run(self, run_id: str) -> None:
        self._queue(lambda b: b.delete_run(run_id), urgent=True)

    # ---- flushing ------------------------------------------------------------------------------
    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything queued before this call is written (and the store is open);
        False if it could not be within `timeout` (the database is failing: see health)."""
        self.start()
        deadline = time.monotonic() + timeout
        with self._lock:
            if self._store is None:
                self._queued += 1             # opening it counts as an operation
            target = self._queued
            self._urgent = True
            self._wake.notify_all()
            while self._written < target:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._wake.wait(left)
        return True

    def close(self, timeout: float = 30.0) -> bool:
        """Flush and stop the thread; False if something could not be written."""
        ok = self.flush(timeout)
        with self._lock:
            self._closing = True
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
        return ok

    def _loop(self) -> None:
        delay, failures = self.flush_every, 0
        while True:
            with self._lock:
                self._wake.wait_for(lambda: self._urgent or self._closing, timeout=delay)
                if self._closing:
                    return
                self._urgent = False
                batch, upto = self._pending, self._queued
                self._pending = _Batch()
                self._writing = batch          # still waiting until written: health counts it
            ok = self._write(batch)
            with self._lock:
                self._writing = _Batch()
                if ok:
                    self._written = max(self._written, upto)
                    delay = self.flush_every
                else:
                    batch.absorb(self._pending)
                    self._pending = batch
                    delay = min(self.retry_max, self.retry_min * 2 ** min(failures, 16))
                failures = 0 if ok else failures + 1
                self._wake.notify_all()

    def _write(self, batch: _Batch) -> bool:
        """Apply a batch in one transaction; True if written (or nothing to write)."""
        try:
            if self._store is None:
                self._store = self._opener()
            if len(batch):
                ops = batch.operations()
                try:
                    with self._store.begin() as conn:
                        for _, op in ops:
                            op(conn)
                except IntegrityError:
                    self._write_one_by_one(ops)
        except Exception as e:   # every failure is reported and retried; the writer never dies
            self._failed(e)
            return False
        self._recovered()
        return True

    def _write_one_by_one(self, ops) -> None:
        """After a refused batch: each operation alone; those refused for good are dropped."""
        for what, op in ops:
            try:
                with self._store.begin() as conn:
                    op(conn)
            except IntegrityError as e:
                log.warning("run store: %s refused by the database and dropped: %s", what, str(e.orig)[:200])

    def _failed(self, e: Exception) -> None:
        reason = describe_error(e)
        with self._lock:
            first = self._health.saving or self._health.reason != reason
            since = time.time() if self._health.saving else self._health.since
            self._health = Health(saving=False, reason=reason, since=since)
        if first:
            log.error("run store: not saving (%s); retrying. Detail: %r", reason, e.__cause__ or e)
        else:
            log.debug("run store: still not saving: %r", e)

    def _recovered(self) -> None:
        with self._lock:
            was = self._health
            self._health = Health(saving=True)
        if not was.saving:
            log.warning("run store: saving again after %.0f s (%s)", time.time() - was.since, was.reason)
