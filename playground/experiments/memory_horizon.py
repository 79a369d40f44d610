"""The memory-horizon experiment: how far back can each cell carry one character?

Each example is one whole line: a key letter, `gap` random digits, '=', and the key again:

    key  d1 d2 ... d_gap  =   ->  key          e.g.  "c 4 9 1 7 =" -> "c"
    x: (B, gap + 2) token ids; the model reads the line, and only its output at '=' is scored.

This is a memory task, not a language model: the loss is the cross-entropy of the recalled
character alone (the digits are noise nobody can predict, scoring them would drown the one
signal that matters). Recall accuracy is measured on held-out lines never used in training;
guessing gives 1/8.

Why the plain RNN fails: the gradient of the recall loss with respect to the key's input,

    dL/dx_key = dL/dh_T · prod_{t=key+1..T} dh_t/dh_{t-1} · dh_key/dx_key,
    dh_t/dh_{t-1} = diag(1 - h_t^2) W_hh                         (tanh RNN)

is a product of `gap + 1` Jacobians; when their norms are below 1 it shrinks geometrically,
so almost no learning signal says "store the key". An LSTM's cell state is carried by
c_t = f_t * c_{t-1} + i_t * g_t: with forget gates f near 1 the product stays near 1
(a forget-gate bias of +1 starts it there). A GRU's h_t = (1 - z_t) * n_t + z_t * h_{t-1}
does the same with its update gate z. `gradient_reach` measures this.

CLI: python -m playground.experiments.memory_horizon --cells RNN_TANH,GRU,LSTM --gaps 32 --seeds 0
"""
from __future__ import annotations

import argparse
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

import pandas as pd
import torch
import torch.nn.functional as F

from playground.cells import cell_type
from playground.config import ModelConfig
from playground.models import CharModel

KEYS = "abcdefgh"                    # the letter to remember: chance recall is 1/8
DIGITS = "0123456789"                # the filler between key and '='
ALPHABET = KEYS + DIGITS + "="       # token id = position in this string
EQUALS = ALPHABET.index("=")
CELLS = ("RNN_TANH", "GRU", "LSTM")
GAPS = (4, 8, 16, 32, 64)
CSV_COLUMNS = ["cell", "gap", "seed", "steps", "seconds", "recall"]


@dataclass(frozen=True)
class Recipe:
    hidden_size: int = 64          # features in h (and c)
    embedding_dim: int = 16        # learned input vectors
    batch_size: int = 32           # lines per step
    lr: float = 3e-3               # Adam
    clip: float = 1.0              # gradient-norm clipping, 0 = off
    forget_bias: float = 4.0       # cells with a forget gate (LSTM): added to the forget gate's
                                   # rows of bias_ih at init (CellType.add_forget_bias)
    max_steps: int = 1000          # per (cell, gap, seed): the same budget for every cell
    eval_every: int = 100          # steps between held-out checks (early stop)
    stop_recall: float = 0.99      # stop early once validation recall reaches this
    eval_lines: int = 500          # held-out lines for validation and for the reported recall

    def __post_init__(self):
        for name in ("hidden_size", "embedding_dim", "batch_size", "max_steps", "eval_every", "eval_lines"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not (self.lr > 0 and self.clip >= 0 and 0 < self.stop_recall <= 1):
            raise ValueError("lr must be > 0, clip >= 0 (0 = off) and stop_recall in (0, 1]")


DEFAULT_RECIPE = Recipe()


# ---- data ---------------------------------------------------------------------------------

def make_lines(n: int, gap: int, generator: torch.Generator) -> torch.Tensor:
    """n lines as token ids (n, gap + 2): key, `gap` digits, '='. The target is column 0."""
    keys = torch.randint(len(KEYS), (n, 1), generator=generator)                    # (n, 1)
    digits = torch.randint(len(DIGITS), (n, gap), generator=generator) + len(KEYS)  # (n, gap)
    equals = torch.full((n, 1), EQUALS)                                             # (n, 1)
    return torch.cat([keys, digits, equals], dim=1)                                 # (n, gap + 2)


def line_text(ids: torch.Tensor) -> str:
    """One line's ids (gap + 2,) -> its text with the answer, e.g. 'c4917=c'."""
    return "".join(ALPHABET[i] for i in ids.tolist()) + ALPHABET[int(ids[0])]


def row_keys(lines: torch.Tensor) -> list[bytes]:
    """A hashable key per line, to keep held-out lines out of training."""
    return [row.tobytes() for row in lines.to(torch.uint8).numpy()]


class LineData:
    """Held-out validation and test lines, and training batches that never contain them."""

    def __init__(self, gap: int, seed: int, eval_lines: int):
        self.gap = gap
        held_out = torch.Generator().manual_seed(10_000 + seed)
        self.valid = make_lines(eval_lines, gap, held_out)                  # (N, gap + 2)
        self.test = make_lines(eval_lines, gap, held_out)                   # (N, gap + 2)
        self.held_out = set(row_keys(self.valid)) | set(row_keys(self.test))
        self.generator = torch.Generator().manual_seed(seed)

    def batch(self, batch_size: int) -> torch.Tensor:
        lines = make_lines(batch_size, self.gap, self.generator)           # (B, gap + 2)
        seen = torch.tensor([k in self.held_out for k in row_keys(lines)])
        return lines[~seen]                                                 # (B', gap + 2)


# ---- model, loss, recall ------------------------------------------------------------------

def build_model(cell: str, recipe: Recipe, seed: int) -> CharModel:
    torch.manual_seed(seed)
    forget_bias = recipe.forget_bias if cell_type(cell).forget_gate else 0.0
    cfg = ModelConfig(cell=cell, vocab_size=len(ALPHABET), embedding_dim=recipe.embedding_dim,
                      hidden_size=recipe.hidden_size, forget_bias=forget_bias)
    return CharModel(cfg)


def recall_logits(model: CharModel, lines: torch.Tensor) -> torch.Tensor:
    """The model's scores for the character after '=': the output at the last position."""
    logits, _ = model(lines)                       # (B, T, V)
    return logits[:, -1]                           # (B, V)


def recall_loss(model: CharModel, lines: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the recalled character only: the digits are not scored."""
    return F.cross_entropy(recall_logits(model, lines), lines[:, 0])


@torch.no_grad()
def recall(model: CharModel, lines: torch.Tensor) -> float:
    """Share of lines whose top-scored character after '=' is the key."""
    return float((recall_logits(model, lines).argmax(-1) == lines[:, 0]).float().mean())


def gradient_reach(model: CharModel, lines: torch.Tensor) -> list[float]:
    """Mean norm of d(recall loss)/d(input vector) at every position of the lines, key first:
    how much of the learning signal reaches each step back from the recall."""
    x = model.one_hot_or_embed(lines).detach().requires_grad_(True)     # (B, T, E)
    out, _ = model.rnn(x)                                                # (B, T, H)
    loss = F.cross_entropy(model.head(out[:, -1]), lines[:, 0], reduction="sum")
    (grad,) = torch.autograd.grad(loss, x)                               # (B, T, E)
    return grad.norm(dim=-1).mean(0).tolist()                           # (T,) per line


# ---- one (cell, gap, seed) training run ----------------------------------------------------

GRADIENT_LINES = 100   # held-out lines the gradient reach is averaged over


class Trial:
    """Trains one cell on one gap with one seed, a slice at a time, then scores held-out recall."""

    def __init__(self, cell: str, gap: int, seed: int, recipe: Recipe):
        self.cell, self.gap, self.seed, self.recipe = cell, gap, seed, recipe
        self.data = LineData(gap, seed, recipe.eval_lines)
        self.model = build_model(cell, recipe, seed)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=recipe.lr)
        self.step, self.seconds, self.done = 0, 0.0, False
        self.reach_at_init = gradient_reach(self.model, self.data.test[:GRADIENT_LINES])

    def train_for(self, budget_seconds: float) -> bool:
        """Train steps for about `budget_seconds`; True once the trial is finished."""
        start = time.perf_counter()
        while not self.done and time.perf_counter() - start < budget_seconds:
            self.train_step()
        self.seconds += time.perf_counter() - start
        return self.done

    def train_step(self) -> None:
        loss = recall_loss(self.model, self.data.batch(self.recipe.batch_size))
        self.optimizer.zero_grad()
        loss.backward()
        if self.recipe.clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.recipe.clip)
        self.optimizer.step()
        self.step += 1
        checked = self.step % self.recipe.eval_every == 0
        solved = checked and recall(self.model, self.data.valid) >= self.recipe.stop_recall
        self.done = solved or self.step >= self.recipe.max_steps

    def result(self) -> dict:
        """The CSV row: recall on the test lines (held out from training and from early stopping)."""
        return dict(cell=self.cell, gap=self.gap, seed=self.seed, steps=self.step,
                    seconds=round(self.seconds, 2), recall=recall(self.model, self.data.test))

    def reach_rows(self) -> list[dict]:
        """Gradient reach at initialisation and after training, by steps back from '='."""
        trained = gradient_reach(self.model, self.data.test[:GRADIENT_LINES])
        return [dict(cell=self.cell, gap=self.gap, seed=self.seed, when=when, steps_back=back,
                     grad_norm=norms[-1 - back])
                for when, norms in (("at init", self.reach_at_init), ("trained", trained))
                for back in range(len(norms))]


# ---- the whole experiment as a scheduler job -----------------------------------------------

class MemoryHorizonJob:
    """Every (seed, gap, cell) trial in turn, in slices: `work(budget)` for the scheduler.

    Reads (`progress`, `status_text`, `results`, `gradient_reach`) are safe from other threads.
    """

    def __init__(self, recipe: Recipe = DEFAULT_RECIPE, cells=CELLS, gaps=GAPS, seeds=(0,)):
        for cell in cells:
            if cell not in CELLS:
                raise ValueError(f"cell must be one of {', '.join(CELLS)}, got {cell!r}")
        if not gaps or min(gaps) < 1 or not seeds or not cells:
            raise ValueError("give at least one cell, one gap >= 1 and one seed")
        self.recipe = recipe
        self.plan = [(c, g, s) for s in seeds for g in gaps for c in cells]
        self.cancelled = False
        self.error = ""
        self._lock = threading.Lock()
        self._rows: list[dict] = []
        self._reach: list[dict] = []
        self._trial: Trial | None = None
        self._started = time.perf_counter()
        self.elapsed = 0.0

    def work(self, budget_seconds: float) -> bool:
        """Train the current trial for ~`budget_seconds`; True while trials remain."""
        if self.cancelled or self.finished:
            return False
        try:
            self._work(budget_seconds)
        except Exception as e:  # noqa: BLE001 - shown on the page instead of a traceback
            with self._lock:
                self.error = f"The experiment stopped: {type(e).__name__}: {e}"
            return False
        return not self.finished

    def _work(self, budget_seconds: float) -> None:
        if self._trial is None:
            trial = Trial(*self.plan[len(self._rows)], self.recipe)
            with self._lock:
                self._trial = trial
        if self._trial.train_for(budget_seconds):
            row, reach = self._trial.result(), self._trial.reach_rows()
            with self._lock:
                self._rows.append(row)
                self._reach.extend(reach)
                self._trial = None
        self.elapsed = time.perf_counter() - self._started

    @property
    def finished(self) -> bool:
        with self._lock:
            return bool(self.error) or len(self._rows) == len(self.plan)

    @property
    def running(self) -> bool:
        return not (self.cancelled or self.finished)

    @property
    def progress(self) -> float:
        """0..1: finished trials plus the current one's share of max_steps."""
        with self._lock:
            current = self._trial.step / self.recipe.max_steps if self._trial else 0.0
            return min(1.0, (len(self._rows) + current) / len(self.plan))

    @property
    def status_text(self) -> str:
        with self._lock:
            done, total, trial = len(self._rows), len(self.plan), self._trial
            if self.error:
                return self.error
        if self.cancelled:
            return f"Stopped after {done} of {total} trainings."
        if done == total:
            return f"Finished: {total} trainings."
        if trial is None:
            return f"{done} of {total} trainings done; starting the next."
        return (f"Training {trial.cell} on gap {trial.gap} (seed {trial.seed}): step {trial.step:,} "
                f"of at most {self.recipe.max_steps:,} · {done} of {total} trainings done")

    @property
    def results(self) -> pd.DataFrame:
        with self._lock:
            return pd.DataFrame(self._rows, columns=CSV_COLUMNS)

    @property
    def gradient_reach(self) -> pd.DataFrame:
        with self._lock:
            return pd.DataFrame(self._reach, columns=REACH_COLUMNS)

    def run_to_end(self, budget_seconds: float = 1.0) -> "MemoryHorizonJob":
        """Work in this thread until done (the CLI and tests)."""
        while self.work(budget_seconds):
            pass
        if self.error:
            raise RuntimeError(self.error)
        return self


REACH_COLUMNS = ["cell", "gap", "seed", "when", "steps_back", "grad_norm"]


def reach_summary(reach: pd.DataFrame) -> pd.DataFrame:
    """Per cell, gap and phase: mean gradient norm at the key over that at '=' (seeds averaged)."""
    last = reach.groupby(["cell", "gap", "seed", "when"])["steps_back"].transform("max")
    key = reach[reach["steps_back"] == last].set_index(["cell", "gap", "seed", "when"])["grad_norm"]
    equals = reach[reach["steps_back"] == 0].set_index(["cell", "gap", "seed", "when"])["grad_norm"]
    ratio = (key / equals).rename("key_over_equals").reset_index()
    return ratio.groupby(["cell", "gap", "when"], as_index=False)["key_over_equals"].mean()


# ---- command line -------------------------------------------------------------------------

def run_parallel(recipe: Recipe, cells, gaps, seeds, workers: int = 2) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One job per cell on `workers` threads (one torch thread each); results in cell order."""
    def run_cell(cell: str) -> MemoryHorizonJob:
        torch.set_num_threads(1)  # per-thread on this torch build
        return MemoryHorizonJob(recipe, [cell], gaps, seeds).run_to_end()

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        jobs = list(pool.map(run_cell, cells))
    results = pd.concat([j.results for j in jobs], ignore_index=True)
    return results.sort_values(["gap", "seed"], kind="stable"), pd.concat([j.gradient_reach for j in jobs])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    default = DEFAULT_RECIPE
    p = argparse.ArgumentParser(
        prog="python -m playground.experiments.memory_horizon",
        description="Held-out recall of a key letter after `gap` random digits, per cell: CSV on stdout.")
    p.add_argument("--cells", default=",".join(CELLS), help="comma-separated, from " + ", ".join(CELLS))
    p.add_argument("--gaps", default=",".join(map(str, GAPS)), help="comma-separated gap lengths")
    p.add_argument("--seeds", default="0", help="comma-separated seeds")
    p.add_argument("--workers", type=int, default=2, help="threads, one cell each (default 2)")
    p.add_argument("--reach-csv", metavar="PATH", default="",
                   help="also write the gradient reach (key over '=', per cell, gap, phase) to PATH")
    for name, value in asdict(default).items():
        p.add_argument("--" + name.replace("_", "-"), type=type(value), default=value,
                       help=f"recipe (default {value})")
    return p.parse_args(argv)


def integers(option: str, text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",")]
    except ValueError:
        raise ValueError(f"{option} takes comma-separated integers, got {text!r}") from None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        cells = [c.strip().upper() for c in args.cells.split(",") if c.strip()]
        gaps, seeds = integers("--gaps", args.gaps), integers("--seeds", args.seeds)
        recipe = Recipe(**{k: getattr(args, k) for k in asdict(DEFAULT_RECIPE)})
        MemoryHorizonJob(recipe, cells, gaps, seeds)  # validates before any thread starts
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    results, reach = run_parallel(recipe, cells, gaps, seeds, args.workers)
    results.to_csv(sys.stdout, index=False, float_format="%.3f")
    if args.reach_csv:
        reach_summary(reach).to_csv(args.reach_csv, index=False, float_format="%.3g")
    return 0


if __name__ == "__main__":
    sys.exit(main())
