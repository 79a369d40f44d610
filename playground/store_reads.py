"""The run store's read side (a mixin of store.RunStore): history, samples, checkpoints,
corpora, broadcasts and the size report. Each method is one transaction (self.begin())."""
from __future__ import annotations

import os

from sqlalchemy import Connection, func, select, text

from . import store_schema as S
from .store_records import Broadcast, CheckpointRecord, SizeReport


class StoreReads:
    """Read methods of RunStore (needs self.begin() and self.engine)."""

    def history(self, run_id: str) -> list[dict]:
        """The run's rows in step order, as dicts of HistoryRow's fields (val_* None where not
        measured): front.HistoryRow.from_dict(row) for each."""
        q = select(*[S.history.c[n] for n in S.HISTORY_COLUMNS]).where(S.history.c.run_id == run_id)
        with self.begin() as conn:
            rows = conn.execute(q.order_by(S.history.c.step)).all()
        return [_history_dict(r._mapping) for r in rows]

    def val_curves(self, run_ids: list[str] | None = None) -> dict[str, list[tuple[int, float, float | None]]]:
        """(step, val_loss, val_bits_per_char) of the measured rows, per run, in one query."""
        h = S.history.c
        q = select(h.run_id, h.step, h.val_loss, h.val_bits_per_char).where(h.val_loss.is_not(None))
        if run_ids is not None:
            q = q.where(h.run_id.in_(list(run_ids)))
        curves: dict[str, list] = {r: [] for r in run_ids or []}
        with self.begin() as conn:
            for run_id, step, val, bpc in conn.execute(q.order_by(h.run_id, h.step)):
                curves.setdefault(run_id, []).append((step, val, bpc))
        return curves

    def samples(self, run_id: str) -> list[dict]:
        c = S.samples.c
        q = select(c.step, c.prefix, c.greedy, c.sampled, c.temperature).where(c.run_id == run_id)
        with self.begin() as conn:
            return [dict(r._mapping) for r in conn.execute(q.order_by(c.step, c.id))]

    def latest_checkpoint(self, run_id: str) -> CheckpointRecord | None:
        c = S.checkpoints.c
        with self.begin() as conn:
            row = conn.execute(select(c.run_id, c.step, c.data, c.created_at).where(c.run_id == run_id)).first()
        return CheckpointRecord(row.run_id, row.step, bytes(row.data), row.created_at) if row else None

    def corpus(self, hash_: str) -> str | None:
        with self.begin() as conn:
            return conn.execute(select(S.corpora.c.text).where(S.corpora.c.hash == hash_)).scalar()

    def broadcasts(self, since_id: int = 0, limit: int = 50) -> list[Broadcast]:
        """Messages with id > since_id, oldest first (at most the `limit` newest)."""
        b = S.broadcasts.c
        with self.begin() as conn:
            rows = conn.execute(select(S.broadcasts).where(b.id > since_id).order_by(b.id.desc()).limit(limit)).all()
        return [Broadcast(**r._mapping) for r in reversed(rows)]

    def size_report(self) -> SizeReport:
        with self.begin() as conn:
            counts = {t.name: conn.execute(select(func.count()).select_from(t)).scalar() or 0
                      for t in S.metadata.sorted_tables}
            ckpt = conn.execute(select(func.coalesce(func.sum(S.checkpoints.c.size), 0))).scalar()
            corpus = conn.execute(select(func.coalesce(func.sum(S.corpora.c.chars), 0))).scalar()
            db_bytes = self._database_bytes(conn)
        return SizeReport(workspaces=counts["workspaces"], runs=counts["runs"], history_rows=counts["history"],
                          samples=counts["samples"], checkpoints=counts["checkpoints"], checkpoint_bytes=int(ckpt),
                          corpus_chars=int(corpus), database_bytes=db_bytes, per_table=counts)

    def _database_bytes(self, conn: Connection) -> int | None:
        if conn.dialect.name == "postgresql":
            return int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar())
        path = self.engine.url.database
        if conn.dialect.name == "sqlite" and path and path != ":memory:":
            return sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))
        return None




def _history_dict(m) -> dict:
    d = dict(m)
    d["clipped"], d["annealed"] = bool(d["clipped"]), bool(d["annealed"])
    return d
