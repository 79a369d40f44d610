"""Coaching from a run's numbers, pure (no streamlit): what the curves say and what to try.

    advice(history, vocab_size, unigram_perplexity, diverged=False) -> list[Advice]

`history` is front.history_frame's DataFrame (loss, val_loss per step). Every flag is a rule
on the numbers, with the numbers in its message:
    diverged       the run stopped on a NaN/inf loss, or the loss became non-finite
    worse_than_uniform   recent loss above ln|V|: worse than guessing every token equally
    overfitting    validation loss rising from its best while the training loss keeps falling
    unigram_plateau      after many steps, still at the letter-frequency line
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

RECENT = 20                 # steps averaged for "the loss now"
MIN_STEPS = 30              # before this, the curves say too little
PLATEAU_STEPS = 300         # steps before "stuck" can be said
PLATEAU_TOLERANCE = 0.05    # within 5% of the unigram loss
OVERFIT_RISE = 0.05         # validation 5% above its best
OVERFIT_FALL = 0.02         # while training fell at least 2% (a flat train loss is not memorising)


@dataclass(frozen=True)
class Advice:
    kind: str               # "diverged" | "worse_than_uniform" | "overfitting" | "unigram_plateau"
    level: str              # "error" | "warning"
    message: str


@dataclass(frozen=True)
class Curves:
    """The history's columns the rules read, as arrays (a live page asks every few seconds: pandas'
    per-call overhead was most of the coach's cost)."""
    step: np.ndarray
    loss: np.ndarray
    val_loss: np.ndarray     # NaN where validation was not measured

    @classmethod
    def of(cls, history: pd.DataFrame) -> "Curves":
        return cls(*(history[c].to_numpy(dtype=float) for c in ("step", "loss", "val_loss")))

    def measured(self) -> np.ndarray:
        """Positions where validation was measured."""
        return np.flatnonzero(~np.isnan(self.val_loss))


def _mean(a: np.ndarray) -> float:
    """The mean of what is not NaN (NaN for none), as pandas' Series.mean."""
    a = a[~np.isnan(a)]
    return float(a.mean()) if len(a) else math.nan


def _recent_loss(c: Curves) -> float:
    return _mean(c.loss[-RECENT:])


def diverged(c: Curves, stopped_diverged: bool) -> Advice | None:
    if stopped_diverged or (len(c.loss) and not np.isfinite(c.loss[-RECENT:]).all()):
        return Advice("diverged", "error",
                      "Diverged: the loss became NaN or infinite, so the weights are useless past that step. "
                      "Lower the lr (÷10), turn clipping on (clip 1), or use adam instead of sgd.")
    return None


def worse_than_uniform(c: Curves, vocab_size: int) -> Advice | None:
    if len(c.loss) < MIN_STEPS or vocab_size < 2:
        return None
    uniform, now = math.log(vocab_size), _recent_loss(c)
    val = c.val_loss[c.measured()]
    worst = max(now, float(val[-1])) if len(val) else now
    if worst > uniform * 1.02:
        return Advice("worse_than_uniform", "error",
                      f"Worse than uniform guessing: loss {worst:.2f} is above ln |V| = {uniform:.2f} "
                      f"(perplexity {math.exp(min(worst, 50)):,.1f} > |V| = {vocab_size}), the loss of giving every "
                      "token the same chance. The steps are too big: lower the lr (÷10).")
    return None


def overfitting(c: Curves) -> Advice | None:
    at = c.measured()
    if len(at) < 3:
        return None
    val = c.val_loss[at]
    best_i = int(val.argmin())
    best, last = float(val[best_i]), float(val[-1])
    best_step = int(c.step[at[best_i]])
    train_then = _mean(c.loss[c.step <= best_step][-RECENT:])
    train_now = _recent_loss(c)
    if best_i < len(val) - 1 and last > best * (1 + OVERFIT_RISE) and train_now < train_then * (1 - OVERFIT_FALL):
        return Advice("overfitting", "warning",
                      f"Overfitting: validation loss rose from {best:.2f} (step {best_step:,}) to {last:.2f} "
                      f"while the training loss fell from {train_then:.2f} to {train_now:.2f}: the model is "
                      "memorising its training text. Use more text, add dropout, or train fewer steps.")
    return None


def unigram_plateau(c: Curves, unigram_perplexity: float) -> Advice | None:
    if len(c.loss) < PLATEAU_STEPS or not unigram_perplexity or unigram_perplexity <= 1:
        return None
    line, now = math.log(unigram_perplexity), _recent_loss(c)
    earlier = _mean(c.loss[-PLATEAU_STEPS // 2:-PLATEAU_STEPS // 2 + RECENT])
    if abs(now - line) <= PLATEAU_TOLERANCE * line and earlier - now < PLATEAU_TOLERANCE * line:
        return Advice("unigram_plateau", "warning",
                      f"Stuck at the letter-frequency line: loss {now:.2f} ≈ {line:.2f}, what knowing only how "
                      "often each token occurs gives, and not falling. The model has not learned to use the "
                      "context yet: train longer, try a larger lr, or a larger hidden_size.")
    return None


def advice(history: pd.DataFrame, vocab_size: int, unigram_perplexity: float,
           diverged_status: bool = False) -> list[Advice]:
    """Every flag the run's numbers raise, most serious first (diverged says it all)."""
    c = Curves.of(history)
    if (d := diverged(c, diverged_status)) is not None:
        return [d]
    found = [worse_than_uniform(c, vocab_size), overfitting(c), unigram_plateau(c, unigram_perplexity)]
    return [a for a in found if a is not None]
