"""Compare runs: summary numbers, overlay, one-click RNN/GRU/LSTM, delete."""
import math
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import torch

from conftest import free_app_runs, open_page
from playground import compare, corpora
from playground.figures import compare as compare_figures
from playground.vocab import Vocab
from playground.config import ModelConfig, TrainConfig
from playground import runner
from playground.runner import RunRegistry

ROOT = Path(__file__).resolve().parent.parent
TEXT = corpora.load("long_range", 20_000)


@pytest.fixture(autouse=True)
def clean_registry():
    yield
    free_app_runs()


def test_summary_row_numbers_come_from_the_history():
    run = RunRegistry().create(ModelConfig(cell="GRU", hidden_size=8, embedding_dim=4),
                               TrainConfig(seq_len=8, batch_size=4), TEXT, owner="o", label="#1 GRU")
    run.start(25)
    run.join(30)
    snap = run.snapshot()
    row = compare.summary_row(snap)
    assert row["run"] == "#1 GRU" and row["steps"] == 25 and row["cell"] == "GRU"
    assert row["train perplexity (last 20)"] == pytest.approx(math.exp(snap.history["loss"].tail(20).mean()))
    assert row["val perplexity"] == pytest.approx(math.exp(snap.history["val_loss"].dropna().iloc[-1]))
    assert row["tokens/s"] == pytest.approx(25 * 32 / snap.running_seconds)
    fig = compare_figures.overlay_figure([snap, snap], "perplexity")
    assert len(fig.data) == 4 and fig.data[0].y[-1] > 1


def compare_page() -> AppTest:
    return open_page("pages/6_Compare.py")


def train_three(at: AppTest, steps: int) -> None:
    """RNN, GRU and LSTM runs on long-range copy in the page's workspace, as the Train page makes
    them (the one-click button now runs the memory-horizon experiment: tests/test_memory_page.py)."""
    text = corpora.load("long_range")
    for cell in ("RNN_TANH", "GRU", "LSTM"):
        cfg = ModelConfig(cell=cell, hidden_size=8, embedding_dim=16)
        runner.REGISTRY.create(cfg, TrainConfig(seed=0), text, at.session_state["owner_token"],
                               label=cell, corpus_key="long_range").start(steps)


def test_compare_page_one_click_and_delete():
    at = compare_page()
    assert not at.exception
    assert any("No runs yet" in i.value for i in at.info)
    train_three(at, steps=50)
    runs = runner.REGISTRY.runs_of(at.session_state["owner_token"])
    assert sorted(r.model_config.cell for r in runs) == ["GRU", "LSTM", "RNN_TANH"]
    assert len({r.train_config.seed for r in runs}) == 1
    for run in runs:
        run.join(60)
    at.run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["steps"]) == [50, 50, 50] and table["val perplexity"].notna().all()
    assert len(at.get("plotly_chart")) == 1



class FirstCharOracle(torch.nn.Module):
    """Predicts, at every position, the first token of its line: perfect recall."""

    def __init__(self, vocab_size):
        super().__init__()
        self.vocab_size = vocab_size

    def forward(self, ids, state=None):
        return torch.nn.functional.one_hot(ids[:, :1].expand_as(ids), self.vocab_size).float(), state


def test_recall_accuracy_scores_the_carried_character():
    text = corpora.load("long_range", 5_000)
    vocab = Vocab(list(text))
    assert compare.recall_accuracy(FirstCharOracle(len(vocab)), vocab, text) == 1.0
    always_a = lambda ids, state=None: (torch.nn.functional.one_hot(  # noqa: E731
        torch.full_like(ids, vocab["a"]), len(vocab)).float(), state)
    share_a = sum(line[0] == "a" for line in text.split("\n")[:-1]) / len(text.split("\n")[:-1])
    assert compare.recall_accuracy(always_a, vocab, text) == pytest.approx(share_a, abs=0.01)
    assert math.isnan(compare.recall_accuracy(always_a, vocab, "no such lines"))


def test_compare_page_shows_recall_for_long_range_runs():
    at = compare_page()
    train_three(at, steps=50)
    for run in runner.REGISTRY.runs_of(at.session_state["owner_token"]):
        run.join(60)
    at.run()
    recall = at.dataframe[0].value[compare.RECALL_COLUMN]
    assert recall.between(0, 1).all()
