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


def _recent_loss(history: pd.DataFrame) -> float:
    return float(history["loss"].tail(RECENT).mean())


def diverged(history: pd.DataFrame, stopped_diverged: bool) -> Advice | None:
    losses = history["loss"].to_numpy(dtype=float) if len(history) else np.array([])
    if stopped_diverged or (len(losses) and not np.isfinite(losses[-RECENT:]).all()):
        return Advice("diverged", "error",
                      "Diverged: the loss became NaN or infinite, so the weights are useless past that step. "
                      "Lower the lr (÷10), turn clipping on (clip 1), or use adam instead of sgd.")
    return None


def worse_than_uniform(history: pd.DataFrame, vocab_size: int) -> Advice | None:
    if len(history) < MIN_STEPS or vocab_size < 2:
        return None
    uniform, now = math.log(vocab_size), _recent_loss(history)
    val = history["val_loss"].dropna()
    worst = max(now, float(val.iloc[-1])) if len(val) else now
    if worst > uniform * 1.02:
        return Advice("worse_than_uniform", "error",
                      f"Worse than uniform guessing: loss {worst:.2f} is above ln |V| = {uniform:.2f} "
                      f"(perplexity {math.exp(min(worst, 50)):,.1f} > |V| = {vocab_size}), the loss of giving every "
                      "token the same chance. The steps are too big: lower the lr (÷10).")
    return None


def overfitting(history: pd.DataFrame) -> Advice | None:
    val = history.dropna(subset=["val_loss"])
    if len(val) < 3:
        return None
    best_i = int(val["val_loss"].to_numpy().argmin())
    best, last = float(val["val_loss"].iloc[best_i]), float(val["val_loss"].iloc[-1])
    best_step = int(val["step"].iloc[best_i])
    train_then = float(history[history["step"] <= best_step]["loss"].tail(RECENT).mean())
    train_now = _recent_loss(history)
    if best_i < len(val) - 1 and last > best * (1 + OVERFIT_RISE) and train_now < train_then * (1 - OVERFIT_FALL):
        return Advice("overfitting", "warning",
                      f"Overfitting: validation loss rose from {best:.2f} (step {best_step:,}) to {last:.2f} "
                      f"while the training loss fell from {train_then:.2f} to {train_now:.2f}: the model is "
                      "memorising its training text. Use more text, add dropout, or train fewer steps.")
    return None


def unigram_plateau(history: pd.DataFrame, unigram_perplexity: float) -> Advice | None:
    if len(history) < PLATEAU_STEPS or not unigram_perplexity or unigram_perplexity <= 1:
        return None
    line, now = math.log(unigram_perplexity), _recent_loss(history)
    earlier = float(history["loss"].iloc[-PLATEAU_STEPS // 2:-PLATEAU_STEPS // 2 + RECENT].mean())
    if abs(now - line) <= PLATEAU_TOLERANCE * line and earlier - now < PLATEAU_TOLERANCE * line:
        return Advice("unigram_plateau", "warning",
                      f"Stuck at the letter-frequency line: loss {now:.2f} ≈ {line:.2f}, what knowing only how "
                      "often each token occurs gives, and not falling. The model has not learned to use the "
                      "context yet: train longer, try a larger lr, or a larger hidden_size.")
    return None


def advice(history: pd.DataFrame, vocab_size: int, unigram_perplexity: float,
           diverged_status: bool = False) -> list[Advice]:
    """Every flag the run's numbers raise, most serious first (diverged says it all)."""
    if (d := diverged(history, diverged_status)) is not None:
        return [d]
    found = [worse_than_uniform(history, vocab_size), overfitting(history),
             unigram_plateau(history, unigram_perplexity)]
    return [a for a in found if a is not None]
