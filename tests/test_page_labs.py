"""AppTest of the Labs page: each lab opened by its URL key runs and shows its outcome."""
import functools
import math
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from playground.labs import hello, warmup
from playground.labs.registry import LABS

torch.set_num_threads(1)
PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "4_Labs.py")


def open_lab(key: str) -> AppTest:
    """A fresh AppTest session with lab `key` opened by its URL (for tests that interact)."""
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.query_params["lab"] = key
    at.run()
    assert not at.exception, at.exception
    return at


@functools.cache
def opened_lab(key: str) -> AppTest:
    """Lab `key` opened once for the tests that only read what it shows (no widget changes)."""
    return open_lab(key)


def metric(at: AppTest, label_start: str) -> str:
    return next(m.value for m in at.metric if m.label.startswith(label_start))


def frame(at: AppTest, column: str):
    return next(d.value for d in at.dataframe if column in d.value.columns)


@pytest.mark.parametrize("lab", LABS, ids=[lab.key for lab in LABS])
def test_every_lab_opens_with_its_sentence_and_code(lab):
    at = opened_lab(lab.key)
    assert at.header[0].value == lab.title
    assert any(lab.teaches in m.value for m in at.markdown)
    assert any(lab.notice in i.value for i in at.info)
    shown_code = "\n".join(c.value for c in at.code)
    assert f"def {lab.run.__name__}(" in shown_code
    assert at.sidebar.radio[0].value == lab.key


def test_unknown_key_opens_first_lab_and_picker_updates_url():
    at = open_lab("no-such-lab")
    assert at.header[0].value == LABS[0].title
    at.sidebar.radio[0].set_value("perplexity").run()
    assert not at.exception
    assert at.query_params["lab"] == "perplexity"
    assert at.header[0].value == LABS[7].title


def test_hello_reaches_ohlol():
    at = opened_lab("hello")
    assert "RNNCell loop, nn.RNN, Embedding + RNN + Linear" in at.success[0].value
    shown = [m.value for m in at.markdown if m.value.startswith("input `hello` →")]
    assert len(shown) == 3                                 # one prediction per version
    green = " ".join(f":green[**{c}**]" for c in hello.TARGET)
    assert all(s.endswith(green) for s in shown)           # every letter right, and green
    ce = frame(at, "target given as")
    assert ce["loss"][0] == ce["loss"][1] == ce["loss"][2]
    assert ce["loss"][3].startswith("error")


def test_fastai_models_learn():
    at = open_lab("fastai")
    table = frame(at, "final loss (default init)")
    assert list(table["model"]) == ["Char3Model", "CharLoopModel", "CharLoopConcatModel",
                                    "CharRnn", "CharSeqRnn"]
    assert (table["final loss (default init)"] < 0.5 * table["first loss"]).all()
    at.toggle[0].set_value(True).run()
    assert not at.exception


def test_lstm_cell_difference_below_1e6():
    at = opened_lab("lstm_cell")
    assert float(metric(at, "max |nn.LSTM output")) < 1e-6
    assert float(metric(at, "max |c_n")) < 1e-6
    looked_up = [d.value for d in at.dataframe if list(d.value.index) == ["id 3", "id 2", "id 1"]][0]
    assert looked_up.iloc[0].tolist() == [12, 13, 14, 15]


@pytest.mark.parametrize("cell", ["RNN", "GRU"])
def test_step_by_step_equal(cell):
    at = open_lab("step")
    at.radio(key="lab_step_cell").set_value(cell).run()
    assert float(metric(at, "max |output")) < 1e-6
    assert float(metric(at, "max |final state")) < 1e-6


def test_vocab_min_freq_makes_unk():
    at = open_lab("vocab")
    at.slider(key="lab_vocab_min_freq").set_value(0).run()
    assert metric(at, "tokens encoded as <unk>") == "0"
    assert metric(at, "decode(encode") == "yes"
    at.slider(key="lab_vocab_min_freq").set_value(2).run()
    assert int(metric(at, "tokens encoded as <unk>")) > 0
    assert metric(at, "decode(encode") == "no"
    table = frame(at, "kind")
    assert list(table["token"][:4]) == ["<unk>", "<pad>", "<bos>", "<eos>"]


def test_samplers_and_no_detach():
    at = open_lab("samplers")
    at.radio(key="lab_samplers_sampler").set_value("random").run()
    assert not at.exception
    assert any("h=0" in c.value for c in at.caption)
    at.toggle(key="lab_samplers_nodetach").set_value(True).run()
    assert any("without detach" in c.value for c in at.caption)


def test_clipping_bounds_the_norm():
    at = opened_lab("clipping")
    table = frame(at, "largest ‖g‖ used by SGD")
    free, clipped = table.iloc[0], table.iloc[1]
    assert float(clipped["largest ‖g‖ used by SGD"]) <= 1.0 + 1e-3
    assert free["final loss"] == "nan" or float(free["largest ‖g‖ before"]) > 10


def test_perplexity_extremes():
    at = opened_lab("perplexity")
    table = frame(at, "perplexity").set_index("model")["perplexity"]
    V = int(next(m.value for m in at.markdown if m.value.startswith("|V|")).split("**")[1])
    assert float(table["perfect"]) == 1.0
    assert float(table["uniform"]) == pytest.approx(V, rel=1e-3)
    assert table["confidently wrong"] == "∞"
    assert 1 < float(table["bigram counts"]) < V
    # the |V| line is labelled on the chart (on a log axis a label's y is log10 of the value) with
    # ticks at 1, 2, 5, 10, …
    import json
    layout = json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]
    label = next(a for a in layout["annotations"] if a["text"] == f"|V| = {V} (uniform guessing)")
    assert label["y"] == pytest.approx(math.log10(V))
    assert layout["yaxis"]["tickvals"][:4] == [1, 2, 5, 10]


def test_warmup_recovers_w_and_b():
    at = opened_lab("warmup")
    w1, w2 = float(metric(at, "learned w₁")), float(metric(at, "learned w₂"))
    b = float(metric(at, "learned b"))
    assert [w1, w2] == pytest.approx(list(warmup.TRUE_W), abs=0.05)
    assert b == pytest.approx(warmup.TRUE_B, abs=0.05)
    sm = frame(at, "F.cross_entropy(z, y)")
    assert all(math.isclose(a, c, abs_tol=1e-3) for a, c in
               zip(sm["−log p(y) by hand"], sm["F.cross_entropy(z, y)"]))


def test_hello_cell_is_one_linear_and_15_epochs():
    at = opened_lab("hello")
    assert at.slider(key="lab_hello_epochs").value == 15
    assert float(metric(at, "max |RNNCell h")) < 1e-6
    assert metric(at, "the Linear's weight") == "4 × 8"


def test_fastai_verdicts_match_the_table():
    at = opened_lab("fastai")
    table = frame(at, "final loss (default init)").set_index("model")
    verdicts = [m.value for m in at.markdown if "Concatenating [h; x]" in m.value][0]
    concat, loop = (table["final loss (default init)"][n] for n in ("CharLoopConcatModel", "CharLoopModel"))
    line = next(x for x in verdicts.splitlines() if "Concatenating" in x)
    assert line.startswith("- **Holds:**" if concat < loop else "- **Does not hold:**")


def test_fastai_at_scale_button_runs_with_progress(monkeypatch):
    from playground.labs import fastai_chars
    monkeypatch.setitem(fastai_chars.SEED_SCALE, "hidden_size", 32)   # a small budget here
    monkeypatch.setitem(fastai_chars.SEED_SCALE, "batch_size", 64)
    monkeypatch.setattr(fastai_chars.corpora, "load", lambda key, *a: fastai_chars.TRAIN_TEXT * 4)
    at = open_lab("fastai")
    assert any("Not run yet" in c.value for c in at.caption)
    at.select_slider(key="lab_fastai_scale_steps").set_value(20)
    at.select_slider(key="lab_fastai_scale_lr").set_value(1e-2)
    at.button(key="lab_fastai_scale_run").click().run()
    assert not at.exception, at.exception
    wide = frame(at, "val loss (default)")
    assert list(wide.index) == list(fastai_chars.MODELS) and wide.shape == (5, 4)
    assert wide.map(math.isfinite).all().all()
    scale = [m.value for m in at.markdown if "held-out loss:" in m.value][0]
    char3 = wide["val loss (default)"]["Char3Model"]
    line = next(x for x in scale.splitlines() if "Reading 8 characters" in x)
    assert f"Char3Model {char3:.3f}" in line
    beats = sum(wide["val loss (default)"].drop("Char3Model") < char3)
    assert line.startswith({4: "- **Holds:**", 0: "- **Does not hold:**"}.get(beats, "- **Holds only in part:**"))


def test_lstm_cell_shows_the_seed_002_errors():
    at = opened_lab("lstm_cell")
    errors = [e.value for e in at.error]
    assert any("Expected hidden[0] size (1, 1, 3), got [1, 3, 3]" in e for e in errors)
    assert any("floating point" in e for e in errors)
    out = [d.value for d in at.dataframe if list(d.value.index) == ["t=0 b=0", "t=1 b=0", "t=2 b=0"]]
    assert out and out[0].shape == (3, 3)


def test_vocab_side_by_side_with_seed_004():
    at = opened_lab("vocab")
    layout = frame(at, "seed 004")
    assert list(layout["seed 004"][:4]) == ["<pad>", "<bos>", "<eos>", "<unk>"]
    assert layout["ours"][0] == "<unk>"
    enc = [d.value for d in at.dataframe if "token" in d.value.columns and "seed 004" in d.value.columns][0]
    assert (enc["ours"] != enc["seed 004"]).any()


def test_warmup_torch_version_and_formulas():
    at = opened_lab("warmup")
    runs = [d.value for d in at.dataframe if "w1" in d.value.columns]
    assert len(runs) == 2
    for r in runs:
        assert [r["w1"].iloc[-1], r["w2"].iloc[-1]] == pytest.approx(list(warmup.TRUE_W), abs=0.05)
    for name in ("relu", "sigmoid", "tanh"):
        assert float(metric(at, f"max |formula − torch.{name}|")) < 1e-6
    assert any(r"\frac{1}{1 + e^{-x}}" in x.value for x in at.latex)


def test_ngram_product_of_the_factors():
    at = opened_lab("ngram")
    factors = frame(at, "count of the words")
    p = (factors["count of the words"] / factors["count of the context (N if none)"]).prod()
    assert float(metric(at, "P(the output will be) with n = 3")) == pytest.approx(p, rel=1e-3)


def test_d2l_rnn_perplexity_below_vocab():
    at = opened_lab("d2l_rnn")
    V = int(metric(at, "|V|"))
    assert 1 < float(metric(at, "held-out perplexity")) < V / 2


def test_every_lab_has_its_renderer_and_every_renderer_its_lab():
    """One registry of labs: LABS. The Labs page draws lab <key> with the renderer declared for
    it in ui.labs.RENDERERS; a lab without one, or a renderer left behind by a removed lab,
    fails here."""
    import dataclasses

    from playground.ui import labs as ui_labs

    for lab in LABS:
        fn = ui_labs.renderer(lab)
        assert fn is ui_labs.RENDERERS[lab.key] and callable(fn)
        assert fn.__module__.startswith("playground.ui.labs.")   # one module per lab
    assert set(ui_labs.RENDERERS) == {lab.key for lab in LABS}
    assert len({fn.__module__ for fn in ui_labs.RENDERERS.values()}) == len(LABS)
    missing = dataclasses.replace(LABS[0], key="no_such_lab")
    with pytest.raises(LookupError, match="declare it in RENDERERS"):
        ui_labs.renderer(missing)
