"""playground.coach and playground.run_setup: pure rules on known numbers."""
import math

import numpy as np
import pandas as pd

from playground import coach, run_setup
from playground.config import ModelConfig, TrainConfig


def history(losses, val=None):
    """A history frame: `losses` per step, `val` {step: val_loss}."""
    val = val or {}
    return pd.DataFrame({"step": np.arange(1, len(losses) + 1), "loss": np.asarray(losses, float),
                         "val_loss": [val.get(s, np.nan) for s in range(1, len(losses) + 1)]})


def kinds(h, vocab=4, unigram=3.0, diverged=False):
    return [a.kind for a in coach.advice(h, vocab, unigram, diverged)]


def test_a_loss_above_ln_V_is_worse_than_uniform_guessing():
    # |V| = 4: uniform loss ln 4 = 1.386; the lr 0.3 run sat at perplexity 8.2 (loss 2.1)
    h = history([2.1] * 100, {50: 2.1, 100: 2.1})
    advice = coach.advice(h, 4, 3.0)
    assert [a.kind for a in advice] == ["worse_than_uniform"]
    assert "lower the lr" in advice[0].message and "1.39" in advice[0].message


def test_a_healthy_run_gets_no_flag():
    h = history(np.linspace(1.3, 0.5, 400), {100: 1.0, 200: 0.8, 300: 0.7, 400: 0.6})
    assert kinds(h) == []


def test_validation_rising_while_training_falls_is_overfitting():
    # the issue's own-text run: val perplexity 301 while train loss fell to 0.02
    losses = np.linspace(3.0, 0.02, 600)
    h = history(losses, {100: 2.5, 200: 2.0, 300: 2.6, 400: 3.5, 500: 4.8, 600: 5.7})
    advice = coach.advice(h, 30, 12.0)
    assert "overfitting" in [a.kind for a in advice]
    msg = next(a.message for a in advice if a.kind == "overfitting")
    assert "more text" in msg and "dropout" in msg and "fewer steps" in msg


def test_validation_rising_while_training_stays_flat_is_not_called_overfitting():
    """The workshop tool's learners change the lr mid-run: validation rose from 0.63 to 0.71 while
    training went from 0.604 to 0.598, and the coach said "the training loss fell from 0.60 to
    0.60: the model is memorising". Memorising needs the training loss to fall."""
    losses = np.concatenate([np.linspace(1.3, 0.604, 100), np.linspace(0.604, 0.598, 200)])
    h = history(losses, {100: 0.70, 150: 0.63, 200: 0.66, 250: 0.69, 300: 0.71})
    assert "overfitting" not in kinds(h)


def test_flat_at_the_unigram_line_is_stuck():
    line = math.log(3.0)
    h = history([line + 0.01] * 400)
    assert kinds(h, vocab=4, unigram=3.0) == ["unigram_plateau"]
    assert kinds(history(np.linspace(line + 0.01, 0.3, 400)), vocab=4, unigram=3.0) == []  # still falling


def test_diverged_says_it_all():
    h = history([1.0] * 40 + [float("nan")])
    assert kinds(h) == ["diverged"]
    assert kinds(history([5.0] * 40), diverged=True) == ["diverged"]


def test_differences_name_what_differs_text_included():
    mc, tc = ModelConfig(hidden_size=128), TrainConfig(text_id="brackets", lr=0.003)
    pasted = run_setup.text_id("own", "你好世界", builtin=False)
    new_mc, new_tc = ModelConfig(hidden_size=64, cell="GRU"), TrainConfig(text_id=pasted, lr=0.1)
    diff = run_setup.differences(mc, tc, new_mc, new_tc, {"brackets": "Nested brackets"},
                                 {"cell": {"LSTM": "LSTM", "GRU": "GRU"}.get})
    assert diff[0] == f"text: Nested brackets → your text {pasted[7:13]}"
    assert "cell LSTM → GRU" in diff and "hidden_size 128 → 64" in diff
    assert not any(d.startswith("lr") for d in diff)          # Continue applies the sidebar's lr
    assert run_setup.differences(mc, tc, ModelConfig(hidden_size=128), TrainConfig(text_id="brackets")) == []


def test_checkpoint_file_names_are_safe_in_a_shell():
    name = run_setup.safe_file_name("rnn-playground-#5 RNN (tanh) h64 · your text", ".pt")
    assert name == "rnn-playground-5-RNN-tanh-h64-your-text.pt"
    assert run_setup.safe_file_name("../../etc") == "etc"
    assert run_setup.safe_file_name("·") == "run"
