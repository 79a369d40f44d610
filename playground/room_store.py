"""The instructor's room from the run store and the live runs together.

    runs = room_runs(registry, store, since=time.time() - 12 * 3600)   # -> [room.RoomRun]
    view = projector_data(registry, store, run_id)                     # -> ProjectorData | None

Every workspace active on the server comes from the store (runs unloaded after their grace
period, runs training on another front that shares the database, runs from before a restart);
a run in this process's registry is drawn from its live snapshot instead. "Active": the
workspace was seen, or one of its runs changed, since `since`.

A refresh costs three reads whatever the room's size, and only what changed is read again:
    1. the runs of active workspaces with each one's newest step and its last 20 steps'
       tokens and seconds (correlated subqueries on the history's primary key: an index
       lookup per run, never a scan of the history);
    2. the validation curves (store.val_curves, one covering-index scan) of the runs whose
       step or status changed since the last refresh;
    3. baselines (uniform |V|, unigram) once per stored text and tokenizer.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import func, or_, select

from . import room
from . import store_schema as S
from .config import ModelConfig, TrainConfig
from .front import HistoryRow, Sample, history_frame

log = logging.getLogger(__name__)
ORPHAN = "sha256:"          # persist.ORPHAN: a workspace restored before its link came


def store_of(registry):
    """The registry's open run store (StoredRegistry), None when there is none or it is failing."""
    writer = getattr(getattr(registry, "persistence", None), "writer", None)
    return writer.usable_store if writer is not None else None


def workspace_id(token: str) -> str:
    """room.workspace_hash of a registry key: a link's token, or ORPHAN + the token's sha256."""
    return token[len(ORPHAN):][:12] if token.startswith(ORPHAN) else room.workspace_hash(token)


# ---- reading the store ----------------------------------------------------------------------

def active_runs_query(since: float, exclude: set[str]):
    """Runs of workspaces seen since `since` (or changed since), with their workspace's name,
    newest history step and the last 20 steps' tokens and seconds."""
    r, w = S.runs.c, S.workspaces.c
    h, h2 = S.history.alias("h"), S.history.alias("h2")
    last = select(func.max(h.c.step)).where(h.c.run_id == r.run_id).correlate(S.runs).scalar_subquery()
    recent = [select(func.sum(h2.c[col])).where(h2.c.run_id == r.run_id, h2.c.step > last - 20)
              .correlate(S.runs).scalar_subquery() for col in ("tokens", "seconds")]
    q = (select(r.run_id, r.workspace, r.label, r.model_config, r.train_config, r.corpus_key, r.corpus_hash,
                r.status, r.step, r.target_step, r.updated_at, w.display_name,
                last.label("last_step"), recent[0].label("tokens"), recent[1].label("seconds"))
         .join_from(S.runs, S.workspaces, r.workspace == w.token_hash)
         .where(or_(w.last_seen >= since, r.updated_at >= since))
         .order_by(w.created_at, r.created_at, r.run_id))
    return q.where(r.run_id.not_in(list(exclude))) if exclude else q


class Baselines:
    """Uniform and unigram perplexity of a stored text under a tokenizer (computed once each)."""

    def __init__(self):
        self._known: dict[tuple, float] = {}
        self._lock = threading.Lock()

    def unigram(self, store, corpus_hash: str | None, tc: TrainConfig) -> float:
        key = (corpus_hash, tc.tokenizer, tc.min_freq, tc.val_fraction)
        with self._lock:
            if key not in self._known:
                self._known[key] = self._compute(store, corpus_hash, tc)
            return self._known[key]

    @staticmethod
    def _compute(store, corpus_hash: str | None, tc: TrainConfig) -> float:
        from .train import split_text, unigram_perplexity   # torch: loaded by the pages already
        text = store.corpus(corpus_hash) if corpus_hash else None
        if not text:
            return float("nan")
        try:
            enc, train_ids, _, _ = split_text(text, tc)
        except ValueError:
            return float("nan")
        return unigram_perplexity(train_ids.long(), len(enc.vocab))


class StoredRoom:
    """The store's side of the room, with a per-run cache: a run whose step, status and name
    did not change is not rebuilt (its curve is not read again)."""

    def __init__(self):
        self.seen: dict[str, tuple] = {}        # run_id -> (key, when its step last changed, RoomRun)
        self.baselines = Baselines()
        self._lock = threading.Lock()

    def runs(self, store, since: float, exclude: set[str], numbers: room.LearnerNumbers,
             names: dict[str, str] | None = None) -> list[room.RoomRun]:
        """The active runs in the store that are not in `exclude` (the live ones)."""
        with store.begin() as conn:
            rows = conn.execute(active_runs_query(since, exclude)).all()
        now, out, stale = time.time(), [], []
        with self._lock:
            for row in rows:
                wid = row.workspace[:12]
                learner = numbers.name(wid, (names or {}).get(wid) or row.display_name)
                step = max(row.last_step or 0, 0) if row.last_step is not None else row.step
                key = (step, row.status, learner, row.label)
                old = self.seen.get(row.run_id)
                if old is None or old[0] != key:
                    stale.append((row, wid, learner, step, key, old))
                else:
                    out.append(old[2])
            curves = store.val_curves([s[0].run_id for s in stale]) if stale else {}
            for row, wid, learner, step, key, old in stale:
                changed = row.updated_at if old is None else (now if old[0][0] != step else old[1])
                run = self._room_run(store, row, wid, learner, step, curves.get(row.run_id, []), changed)
                self.seen[row.run_id] = (key, changed, run)
                out.append(run)
            for gone in set(self.seen) - {r.run_id for r in out}:
                self.seen.pop(gone, None)
        return out

    def _room_run(self, store, row, wid: str, learner: str, step: int, curve: list, changed: float) -> room.RoomRun:
        mc, tc = ModelConfig.from_dict(row.model_config), TrainConfig.from_dict(row.train_config)
        loss = np.array([c[1] for c in curve], float)
        bpc = np.array([np.nan if c[2] is None else c[2] for c in curve], float)
        seconds = float(row.seconds or 0.0)
        return room.RoomRun(
            workspace=wid, learner=learner, run_id=row.run_id, label=row.label, cell=mc.cell,
            hidden_size=mc.hidden_size, num_layers=mc.num_layers, embedding_dim=mc.embedding_dim,
            corpus=row.corpus_key or room.OWN_TEXT, status=str(row.status), step=int(step),
            target_step=int(row.target_step), val_perplexity=room.perplexity(room.last_measured(loss)),
            val_bits_per_char=room.last_measured(bpc),
            tokens_per_s=float(row.tokens or 0) / seconds if seconds > 0 else 0.0,
            uniform_perplexity=float(mc.vocab_size) if mc.vocab_size else float("nan"),
            unigram_perplexity=self.baselines.unigram(store, row.corpus_hash, tc),
            curve=room.downsample([(int(s), float(v)) for s, v, _ in curve]), last_update=changed,
            tokenizer=tc.tokenizer, config=room.config_fields(mc) | room.config_fields(tc))


STORED = StoredRoom()


def room_runs(registry, store=None, since: float = 0.0, numbers: room.LearnerNumbers = room.NUMBERS,
              stored: StoredRoom = STORED) -> list[room.RoomRun]:
    """The live runs of this process's registry, then every other active run in the store."""
    names = {workspace_id(t): getattr(ws, "display_name", "") for t, ws in list(registry.workspaces.items())}
    if store is not None:
        try:
            return _merged(registry, store, since, numbers, stored, names)
        except Exception as e:  # noqa: BLE001 - a failing database: the room shows this front's runs
            log.warning("room: reading the run store failed (%s); showing this front's runs only", e)
    return room.room_runs_from_registry(registry, numbers, key_of=workspace_id)


def _merged(registry, store, since, numbers, stored, names) -> list[room.RoomRun]:
    stored_names = _stored_names(store, since)
    live = room.room_runs_from_registry(registry, numbers, key_of=workspace_id, names=stored_names)
    return live + stored.runs(store, since, {r.run_id for r in live}, numbers, names)


def _stored_names(store, since: float) -> dict[str, str]:
    """Display names of the active workspaces in the store (a live workspace may have been
    named on another front, or before a restart)."""
    return {w.token_hash[:12]: w.display_name for w in store.workspaces(seen_since=since) if w.display_name}


# ---- the projector view of one run ----------------------------------------------------------

@dataclass
class ProjectorData:
    """What the projector tab draws of one run: its history, baselines and latest sample."""
    history: pd.DataFrame
    uniform_perplexity: float
    unigram_perplexity: float
    sample: Sample | None


def projector_data(registry, store, run: room.RoomRun) -> ProjectorData | None:
    """The live snapshot if the run is in this process, else its rows and samples from the store."""
    live = registry.runs.get(run.run_id)
    if live is not None:
        snap = live.snapshot()
        return ProjectorData(snap.history, snap.uniform_perplexity, snap.unigram_perplexity,
                             snap.samples[-1] if snap.samples else None)
    if store is None:
        return None
    try:
        rows, samples = store.history(run.run_id), store.samples(run.run_id)
    except Exception as e:  # noqa: BLE001
        log.warning("room: reading run %s from the run store failed: %s", run.run_id[:6], e)
        return None
    history = history_frame([HistoryRow.from_dict(r) for r in rows])
    return ProjectorData(history, run.uniform_perplexity, run.unigram_perplexity,
                         Sample(**samples[-1]) if samples else None)

