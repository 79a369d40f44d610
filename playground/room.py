"""The instructor's room: every learner's runs, as plain rows the Room page draws.

    runs = room_store.room_runs(REGISTRY, store)   # the store's runs and the live ones (room_store.py)
    flags(run)                 -> ["💥 diverged", ...]   what needs the instructor's eye
    leaderboard(runs)          -> {group: DataFrame}      best validation figures per corpus
    summary(runs)              -> {group: "median perplexity by cell: LSTM 3.3, GRU 3.4 (n = 10, 11)"}
    room_csv(runs)             -> str                     every run's final figures and configs

Anonymity: a learner is "learner 7", numbered in the order the room first saw their workspace
(stable across refreshes), or the display name they chose. A RoomRun never carries the
workspace token, only a short hash of it: the token is the key to a learner's runs.

Comparability: perplexity is per token, so runs are grouped by corpus and tokenizer (`group`);
runs on a learner's own text are never ranked against each other.
"""
from __future__ import annotations

import io
import math
import threading
import time
from dataclasses import asdict, dataclass, field, fields

import numpy as np
import pandas as pd

from .cells import LABELS
from .store_records import hash_token

MAX_CURVE_POINTS = 100        # validation points kept per run (300 runs overlay in well under 1 s)
STUCK_MIN_STEPS = 300         # before this, sitting at the unigram baseline is normal
STUCK_TOLERANCE = 0.03        # "at the baseline": val perplexity within 3 % of the unigram one
OWN_TEXT = "own"              # corpus key of a learner's own text (not comparable between learners)
MAX_NAME = 40                 # characters of a display name


@dataclass
class RoomRun:
    """One run as the room sees it: who (anonymous), what (config), how far and how good."""
    workspace: str                # short hash of the workspace token (never the token)
    learner: str                  # "learner 7" or the display name the learner set
    run_id: str
    label: str
    cell: str                     # config name: "RNN_TANH" | "RNN_RELU" | "LSTM" | "GRU"
    hidden_size: int
    num_layers: int
    embedding_dim: int            # 0 = one-hot input
    corpus: str                   # corpus key ("own": the learner's own text)
    status: str                   # ready | queued | running | paused | finished | stopped | diverged | error | lost
    step: int
    target_step: int
    val_perplexity: float         # last measured; NaN before the first measurement
    val_bits_per_char: float      # last measured; NaN before the first measurement
    tokens_per_s: float           # training throughput over the last 20 steps
    uniform_perplexity: float     # |V|: guessing uniformly
    unigram_perplexity: float     # letter frequencies only
    curve: list[tuple[int, float]] = field(default_factory=list)   # (step, val_loss), ≤ MAX_CURVE_POINTS
    last_update: float | None = None   # time.time() when the room last saw its step change
    tokenizer: str = "char"
    config: dict = field(default_factory=dict)   # ModelConfig + TrainConfig as dicts (the CSV export)

    @property
    def group(self) -> str:
        """What the run is comparable with: its corpus, and its tokenizer unless per character."""
        return self.corpus if self.tokenizer == "char" else f"{self.corpus} · {self.tokenizer}"

    @property
    def cell_label(self) -> str:
        return LABELS.get(self.cell, self.cell)


# ---- anonymity ------------------------------------------------------------------------------

def workspace_hash(token: str) -> str:
    """A short, stable stand-in for a workspace token (the token itself opens the runs)."""
    return hash_token(token)[:12]


class LearnerNumbers:
    """"learner N", numbered by the order workspaces are first seen; stable while the process lives."""

    def __init__(self):
        self._numbers: dict[str, int] = {}
        self._lock = threading.Lock()

    def number(self, workspace: str) -> int:
        with self._lock:
            return self._numbers.setdefault(workspace, len(self._numbers) + 1)

    def name(self, workspace: str, display_name: str | None = None) -> str:
        n = self.number(workspace)
        shown = clean_display_name(display_name or "")
        return shown or f"learner {n}"


def clean_display_name(text: str) -> str:
    """A learner's chosen name as the room shows it: printable, one line, at most MAX_NAME characters."""
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in str(text)).split())
    return text[:MAX_NAME]


# ---- curves ---------------------------------------------------------------------------------

def downsample(points: list[tuple[int, float]], max_points: int = MAX_CURVE_POINTS) -> list[tuple[int, float]]:
    """At most `max_points` of `points`, evenly spaced, always keeping the first and the last."""
    n = len(points)
    if n <= max_points:
        return list(points)
    if max_points < 2:
        return [points[-1]]
    idx = sorted({round(i * (n - 1) / (max_points - 1)) for i in range(max_points)})
    return [points[i] for i in idx]


def last_measured(values: np.ndarray) -> float:
    """The last measured (non-NaN) value, NaN if none."""
    measured = values[~np.isnan(values)]
    return float(measured[-1]) if len(measured) else float("nan")


# ---- flags ----------------------------------------------------------------------------------

DIVERGED, STUCK, WAITING, NOT_STARTED, WORSE, FAILED = (
    "💥 diverged", "🐢 stuck at the unigram baseline", "⏳ waiting", "💤 not started",
    "📉 worse than uniform", "⚠️ failed")


def flags(run: RoomRun, min_steps: int = STUCK_MIN_STEPS, tolerance: float = STUCK_TOLERANCE) -> list[str]:
    """What needs the instructor's eye, as emoji + words (empty: nothing to see)."""
    out = []
    ppl = run.val_perplexity
    if run.status == "diverged" or (run.step > 0 and not math.isnan(ppl) and not math.isfinite(ppl)):
        out.append(DIVERGED)
    if run.status in ("error", "lost"):
        out.append(FAILED)
    if run.status == "queued":
        out.append(WAITING)
    if run.status == "ready" and run.step == 0:
        out.append(NOT_STARTED)
    if math.isfinite(ppl) and run.status != "diverged":
        if ppl > run.uniform_perplexity:
            out.append(WORSE)
        elif run.step >= min_steps and ppl >= run.unigram_perplexity * (1 - tolerance):
            out.append(STUCK)
    return out


# ---- the lesson -----------------------------------------------------------------------------

def ranked(runs: list[RoomRun], min_steps: int = 0) -> list[RoomRun]:
    """Runs whose figures can be compared: a finite val perplexity, not diverged, on a shared corpus."""
    return [r for r in runs if r.corpus != OWN_TEXT and r.status != "diverged" and r.step >= min_steps
            and math.isfinite(r.val_perplexity)]


def leaderboard(runs: list[RoomRun], min_steps: int = 0, top: int | None = None) -> dict[str, pd.DataFrame]:
    """Per group (corpus · tokenizer): the runs ranked by validation perplexity, best first."""
    boards = {}
    for group in sorted({r.group for r in ranked(runs, min_steps)}):
        rows = sorted((r for r in ranked(runs, min_steps) if r.group == group), key=lambda r: r.val_perplexity)
        df = pd.DataFrame([{"rank": i + 1, "learner": r.learner, "cell": r.cell_label,
                            "hidden_size": r.hidden_size, "num_layers": r.num_layers, "step": r.step,
                            "val perplexity": r.val_perplexity, "val bits/char": r.val_bits_per_char}
                           for i, r in enumerate(rows)])
        boards[group] = df.head(top) if top else df
    return boards


def medians_by_cell(runs: list[RoomRun]) -> list[tuple[str, float, int]]:
    """(cell label, median val perplexity, n) for each cell type present, in LABELS order."""
    out = []
    for cell, label in LABELS.items():
        values = [r.val_perplexity for r in runs if r.cell == cell]
        if values:
            out.append((label, float(pd.Series(values).median()), len(values)))
    return out


def summary(runs: list[RoomRun], min_steps: int = 0) -> dict[str, str]:
    """Per group: "median perplexity by cell: RNN (tanh) 6.1, GRU 3.4, LSTM 3.3 (n = 9, 11, 10)"."""
    out = {}
    for group in sorted({r.group for r in ranked(runs, min_steps)}):
        meds = medians_by_cell([r for r in ranked(runs, min_steps) if r.group == group])
        figures = ", ".join(f"{label} {m:.3g}" for label, m, _ in meds)   # 6.1, 3.45, 1.85
        counts = ", ".join(str(n) for _, _, n in meds)
        out[group] = f"median perplexity by cell: {figures} (n = {counts})"
    return out


# ---- the table and the export ---------------------------------------------------------------

def glance_table(runs: list[RoomRun], now: float | None = None) -> pd.DataFrame:
    """One row per run for the room-at-a-glance table (flags as emoji + words)."""
    now = time.time() if now is None else now
    return pd.DataFrame([{
        "learner": r.learner, "run": r.label, "cell": r.cell_label, "hidden_size": r.hidden_size,
        "num_layers": r.num_layers, "corpus": r.group, "status": r.status, "step": r.step,
        "target": r.target_step, "val perplexity": r.val_perplexity, "val bits/char": r.val_bits_per_char,
        "tokens/s": r.tokens_per_s, "flags": " · ".join(flags(r)),
        "updated (s ago)": None if r.last_update is None else max(0.0, now - r.last_update),
    } for r in runs], columns=GLANCE_COLUMNS)


GLANCE_COLUMNS = ["learner", "run", "cell", "hidden_size", "num_layers", "corpus", "status", "step", "target",
                  "val perplexity", "val bits/char", "tokens/s", "flags", "updated (s ago)"]
EXPORT_FIELDS = ["learner", "workspace", "label", "cell", "hidden_size", "num_layers", "embedding_dim",
                 "corpus", "tokenizer", "status", "step", "target_step", "val_perplexity", "val_bits_per_char",
                 "tokens_per_s", "uniform_perplexity", "unigram_perplexity"]


def room_csv(runs: list[RoomRun]) -> str:
    """Every run's final figures, flags and full configs (config_* columns), one row per run."""
    rows = []
    for r in runs:
        d = asdict(r)
        row = {k: d[k] for k in EXPORT_FIELDS}
        row["flags"] = "; ".join(f.split(" ", 1)[1] for f in flags(r))
        row.update({f"config_{k}": v for k, v in r.config.items()})
        rows.append(row)
    buf = io.StringIO()
    pd.DataFrame(rows, columns=None if rows else EXPORT_FIELDS + ["flags"]).to_csv(buf, index=False)
    return buf.getvalue()


# ---- the live runs (room_store.py adds the run store's) --------------------------------------

NUMBERS = LearnerNumbers()
SEEN: dict[str, tuple] = {}     # run_id -> (what changes, when it last changed, its RoomRun)


def perplexity(loss: float) -> float:
    """exp(loss), inf for a loss too large to exponentiate (NaN stays NaN)."""
    return math.exp(loss) if loss < 700 else float("inf") if loss == loss else loss


def room_runs_from_registry(registry, numbers: LearnerNumbers = NUMBERS, seen: dict[str, tuple] = SEEN,
                            key_of=workspace_hash, names: dict[str, str] | None = None) -> list[RoomRun]:
    """Every run of every workspace in the live registry (runner.RunRegistry), as RoomRuns.
    `key_of(token)`: the workspace's short hash; `names`: display names by that hash where the
    registry has none (the store's). A run whose step, status and learner did not change since
    the last call is not read again."""
    workspaces = [(t, getattr(ws, "display_name", ""), list(ws.run_ids))   # list(): one atomic copy
                  for t, ws in list(registry.workspaces.items())]
    out, now = [], time.time()
    for token, display, run_ids in workspaces:
        wid = key_of(token)
        learner = numbers.name(wid, display or (names or {}).get(wid))
        for run in filter(None, map(registry.runs.get, run_ids)):
            snap = run.snapshot()
            key = (snap.step, str(snap.status), len(snap.history), learner, snap.label)
            old = seen.get(snap.run_id)
            if old is None or old[0] != key:
                changed = now if old is None or old[0][0] != snap.step else old[1]
                seen[snap.run_id] = (key, changed, room_run(snap, wid, learner, changed))
            out.append(seen[snap.run_id][2])
    for gone in set(seen) - {r.run_id for r in out}:
        seen.pop(gone, None)
    return out


def snapshot_of(registry, run_id: str):
    """The Snapshot of any run by id, for the instructor's read-only projector view (None if gone)."""
    run = registry.runs.get(run_id)
    return run.snapshot() if run is not None else None


def room_run(snap, workspace: str, learner: str, last_update: float | None = None) -> RoomRun:
    """A RoomRun from a run front's Snapshot (front.Snapshot); numpy, not pandas, per column
    (300 runs of 5,000 steps each: pandas' dropna alone took seconds)."""
    h, mc, tc = snap.history, snap.model_config, snap.train_config
    loss, bpc = h["val_loss"].to_numpy(float), h["val_bits_per_char"].to_numpy(float)
    measured = ~np.isnan(loss)
    tokens, seconds = h["tokens"].to_numpy()[-20:], h["seconds"].to_numpy()[-20:]   # Snapshot.tokens_per_s
    curve = list(zip(h["step"].to_numpy()[measured].astype(int).tolist(), loss[measured].tolist()))
    return RoomRun(
        workspace=workspace, learner=learner, run_id=snap.run_id, label=snap.label, cell=mc.cell,
        hidden_size=mc.hidden_size, num_layers=mc.num_layers, embedding_dim=mc.embedding_dim,
        corpus=snap.corpus_key, status=str(snap.status), step=snap.step, target_step=snap.target_step,
        val_perplexity=perplexity(last_measured(loss)), val_bits_per_char=last_measured(bpc),
        tokens_per_s=float(tokens.sum() / seconds.sum()) if seconds.sum() > 0 else 0.0, uniform_perplexity=snap.uniform_perplexity,
        unigram_perplexity=snap.unigram_perplexity, curve=downsample(curve), last_update=last_update,
        tokenizer=tc.tokenizer, config=config_fields(mc) | config_fields(tc))


def config_fields(config) -> dict:
    """A config dataclass's fields (to_dict without asdict's deep copy: 300 runs a refresh)."""
    return {f.name: getattr(config, f.name) for f in fields(config)}
