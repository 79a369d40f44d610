"""The memory-horizon experiment: data, recall-only loss, held-out recall, the job, the CLI."""
from __future__ import annotations

import io
from contextlib import redirect_stdout
from dataclasses import replace

import pandas as pd
import pytest
import torch

from playground.experiments import memory_horizon as mh
from playground.figures import memory as plots

torch.set_num_threads(1)
TINY = replace(mh.DEFAULT_RECIPE, hidden_size=16, embedding_dim=8, max_steps=60, eval_every=20,
               eval_lines=50)


def test_lines_are_key_digits_equals():
    lines = mh.make_lines(200, 5, torch.Generator().manual_seed(0))
    assert lines.shape == (200, 7)
    assert lines[:, 0].lt(len(mh.KEYS)).all()
    assert lines[:, 1:-1].ge(len(mh.KEYS)).all() and lines[:, 1:-1].lt(mh.EQUALS).all()
    assert lines[:, -1].eq(mh.EQUALS).all()
    text = mh.line_text(lines[0])
    assert len(text) == 8 and text[0] == text[-1] and text[-2] == "=" and text[1:6].isdigit()


def test_training_batches_never_contain_held_out_lines():
    data = mh.LineData(gap=1, seed=0, eval_lines=30)  # gap 1: only 80 different lines exist
    assert len(data.held_out) > 20
    batch = data.batch(2_000)                          # (B', 3)
    assert 0 < len(batch) < 2_000                      # some drawn lines were held out and dropped
    assert not set(mh.row_keys(batch)) & data.held_out
    assert torch.equal(data.valid, mh.LineData(1, 0, 30).valid)  # held-out lines depend on the seed only


class FixedLogits(torch.nn.Module):
    """Returns its own logits parameter for any input: lets a test see which positions the loss uses."""

    def __init__(self, batch: int, seq_len: int):
        super().__init__()
        self.logits = torch.nn.Parameter(torch.randn(batch, seq_len, len(mh.ALPHABET)))

    def forward(self, ids, state=None):
        return self.logits, state


def test_loss_scores_only_the_recalled_character():
    lines = mh.make_lines(4, 6, torch.Generator().manual_seed(1))  # (4, 8)
    model = FixedLogits(*lines.shape)
    mh.recall_loss(model, lines).backward()
    grad_norm_per_position = model.logits.grad.norm(dim=(0, 2))     # (8,)
    assert grad_norm_per_position[:-1].eq(0).all() and grad_norm_per_position[-1] > 0
    expected = torch.nn.functional.cross_entropy(model.logits[:, -1], lines[:, 0])
    assert mh.recall_loss(model, lines).item() == pytest.approx(expected.item())


def test_recall_is_the_share_of_lines_whose_answer_is_the_key():
    lines = mh.make_lines(400, 3, torch.Generator().manual_seed(2))
    oracle = lambda ids, state=None: (torch.nn.functional.one_hot(  # noqa: E731 - answers the key
        ids[:, :1].expand_as(ids), len(mh.ALPHABET)).float(), state)
    always_a = lambda ids, state=None: (torch.nn.functional.one_hot(  # noqa: E731
        torch.zeros_like(ids), len(mh.ALPHABET)).float(), state)
    assert mh.recall(oracle, lines) == 1.0
    assert mh.recall(always_a, lines) == pytest.approx(float((lines[:, 0] == 0).float().mean()))


def test_forget_bias_shifts_only_the_forget_gate():
    model = mh.build_model("LSTM", replace(TINY, forget_bias=4.0), seed=0)
    plain = mh.build_model("LSTM", replace(TINY, forget_bias=0.0), seed=0)
    h = TINY.hidden_size
    for name, value in (("bias_ih_l0", 4.0), ("bias_hh_l0", 0.0)):   # the one rule: all on bias_ih
        shift = getattr(model.rnn, name) - getattr(plain.rnn, name)                # (4H,)
        assert torch.allclose(shift[h:2 * h], torch.full((h,), value))
        assert shift[:h].abs().max() == 0 and shift[2 * h:].abs().max() == 0
    assert mh.build_model("GRU", replace(TINY, forget_bias=4.0), seed=0).config.forget_bias == 0  # no forget gate


def test_gradient_reach_of_the_plain_rnn_fades_faster_than_the_lstms():
    """At initialisation, with the recipe's sizes, the share of the recall gradient that reaches
    the key 24 steps back is orders of magnitude smaller for a tanh RNN than for the LSTM."""
    lines = mh.make_lines(64, 24, torch.Generator().manual_seed(3))
    share = {}
    for cell in ("RNN_TANH", "LSTM"):
        norms = mh.gradient_reach(mh.build_model(cell, mh.DEFAULT_RECIPE, seed=0), lines)  # (26,)
        assert len(norms) == 26 and min(norms) > 0
        share[cell] = norms[0] / norms[-1]          # key over '='
    assert share["RNN_TANH"] < share["LSTM"] / 100


def test_short_experiment_lstm_learns_gap_4_and_the_job_reports_it():
    """CI variant: 300 steps at gap 4 take a few seconds; the LSTM's held-out recall beats chance."""
    recipe = replace(mh.DEFAULT_RECIPE, hidden_size=32, max_steps=300, eval_every=25, eval_lines=200)
    job = mh.MemoryHorizonJob(recipe, cells=["LSTM", "RNN_TANH"], gaps=[4], seeds=[0])
    assert job.progress == 0 and job.running
    job.run_to_end(0.2)
    res = job.results
    assert list(res.columns) == mh.CSV_COLUMNS and list(res["cell"]) == ["LSTM", "RNN_TANH"]
    assert res["recall"].between(0, 1).all() and (res["steps"] <= 300).all()
    assert res.set_index("cell").loc["LSTM", "recall"] > 0.5   # chance is 0.125
    assert job.progress == 1 and not job.running and "Finished" in job.status_text
    reach = job.gradient_reach
    assert set(reach["when"]) == {"at init", "trained"} and reach["steps_back"].max() == 5
    summary = mh.reach_summary(reach)
    assert len(summary) == 4 and (summary["key_over_equals"] > 0).all()


def test_job_stops_when_cancelled_and_rejects_bad_settings():
    job = mh.MemoryHorizonJob(TINY, cells=["GRU"], gaps=[4, 8], seeds=[0])
    assert job.work(0.01)
    job.cancelled = True
    assert job.work(1.0) is False and "Stopped" in job.status_text and len(job.results) == 0
    with pytest.raises(ValueError, match="cell must be one of"):
        mh.MemoryHorizonJob(TINY, cells=["TRANSFORMER"])
    with pytest.raises(ValueError, match="gap"):
        mh.MemoryHorizonJob(TINY, gaps=[0])


def test_cli_prints_the_csv_header_and_one_row_per_training():
    out = io.StringIO()
    with redirect_stdout(out):
        code = mh.main(["--cells", "RNN_TANH,LSTM", "--gaps", "2,3", "--seeds", "0", "--max-steps", "40",
                        "--hidden-size", "8", "--eval-lines", "50"])
    assert code == 0
    text = out.getvalue()
    assert text.splitlines()[0] == "cell,gap,seed,steps,seconds,recall"
    table = pd.read_csv(io.StringIO(text))
    assert len(table) == 4 and set(table["cell"]) == {"RNN_TANH", "LSTM"}
    assert table["recall"].between(0, 1).all() and (table["steps"] <= 40).all()


def test_cli_rejects_bad_settings_with_a_message(capsys):
    assert mh.main(["--cells", "LSTM,FOO", "--gaps", "4"]) == 2
    assert "cell must be one of" in capsys.readouterr().err
    assert mh.main(["--gaps", "4,x"]) == 2
    assert "--gaps takes comma-separated integers, got '4,x'" in capsys.readouterr().err
    assert mh.main(["--eval-every", "0"]) == 2
    assert "eval_every must be at least 1" in capsys.readouterr().err


def test_recall_figure_draws_one_mean_line_per_cell():
    results = pd.DataFrame([("GRU", 4, 0, 100, 1.0, 1.0), ("GRU", 4, 1, 100, 1.0, 0.8),
                            ("RNN_TANH", 4, 0, 100, 1.0, 0.2)], columns=mh.CSV_COLUMNS)
    fig = plots.recall_figure(results)
    means = {t.name: list(t.y) for t in fig.data if t.showlegend is not False}
    assert means == {"GRU": [pytest.approx(0.9)], "RNN (tanh)": [pytest.approx(0.2)]}


def test_reach_figure_shows_the_share_of_the_gradient_at_equals():
    job = mh.MemoryHorizonJob(TINY, cells=["RNN_TANH", "LSTM"], gaps=[6], seeds=[0, 1]).run_to_end()
    reach = job.gradient_reach
    fig = plots.reach_figure(reach.sample(frac=1, random_state=0), gap=6)  # row order must not matter
    curves = {t.name: list(t.y) for t in fig.data}
    assert len(curves) == 4 and len(curves["LSTM · trained"]) == 8
    summary = mh.reach_summary(reach).set_index(["cell", "when"])["key_over_equals"]
    for cell, name in (("RNN_TANH", "RNN (tanh)"), ("LSTM", "LSTM")):
        for when in ("at init", "trained"):
            ys = curves[f"{name} · {when}"]
            assert ys[0] == pytest.approx(1.0) and ys[-1] == pytest.approx(summary[(cell, when)])
