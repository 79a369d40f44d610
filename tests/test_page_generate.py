"""AppTest for pages/5_Generate.py, with a briefly trained model in the session."""
from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from conftest import open_page
from conftest import trained_run as make_trained_run
from playground.config import ModelConfig, TrainConfig
from playground.corpora import arithmetic_text
from playground.generate import Clamp, generate, generate_trace
from playground.figures.hidden import show_token

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parent.parent
APP, PAGE = str(ROOT / "app.py"), "pages/5_Generate.py"
OWNER = "test-owner-generate"


@pytest.fixture(scope="module")
def trained_run():
    with make_trained_run(ModelConfig(cell="LSTM", embedding_dim=8, hidden_size=24, num_layers=2),
                          TrainConfig(seq_len=32, batch_size=8, seed=0), arithmetic_text(6000),
                          steps=20, owner=OWNER) as run:
        yield run


def _open(run=None) -> AppTest:
    return open_page(PAGE, run)


def _tokens(at) -> list[list[str]]:
    """The generated tokens shown (one hover span each), without the grey prefix, in page order."""
    out = []
    for h in at.get("html"):
        body = h.proto.body
        if 'class="gen-text"' in body:
            spans = re.findall(r'<span class="gen-tok"[^>]*>(.*?)<span class="gen-tip">', body, flags=re.S)
            out.append([html.unescape(s.replace("↵\n", "\n")) for s in spans])
    return out


def _texts(at) -> list[str]:
    return ["".join(tokens) for tokens in _tokens(at)]


def test_without_a_run_the_page_points_to_train():
    at = _open()
    assert not at.exception
    assert any("Train a model first" in i.value for i in at.info)
    assert not at.get("plotly_chart")


def test_greedy_and_sampled_side_by_side(trained_run):
    at = _open(trained_run)
    assert not at.exception, at.exception
    model, vocab, _ = trained_run.copy_model()
    prefix, length = at.text_area(key="gen_prefix").value, at.slider(key="gen_length").value
    texts = _texts(at)
    assert len(texts) == 4  # greedy, sampled, without clamp, with clamp
    assert texts[0] == generate(model, vocab, prefix, length, greedy=True)
    assert texts[1] == generate(model, vocab, prefix, length, temperature=0.8, seed=0)
    assert any(m.value.startswith("**Greedy") for m in at.markdown)
    assert any(m.value.startswith("**Sampled (temperature 0.8, seed 0)") for m in at.markdown)
    # the step inspector's tables hold the model's top-5 candidates at step 0
    table = at.dataframe[0].value
    trace = generate_trace(model, vocab, prefix, length, greedy=True)
    assert table["chosen"].iloc[0] and table["candidate"].iloc[0] == show_token(trace.tokens[0])  # greedy: the top one
    assert table["probability"].tolist() == pytest.approx(trace.top_probs[0].tolist(), abs=1e-6)


def test_changing_seed_and_step_updates_the_page(trained_run):
    at = _open(trained_run)
    before = _tokens(at)[1]
    at.number_input(key="gen_seed").set_value(12345)
    next(b for b in at.button if b.label == "Generate").click().run()   # the options are a form
    assert not at.exception
    after = _tokens(at)[1]
    assert after != before and len(after) == len(before) == at.slider(key="gen_length").value
    assert _texts(at)[0] == _texts(_open(trained_run))[0]  # greedy ignores the seed
    at.slider(key="gen_step").set_value(7).run()
    assert any("step 7: chose" in m.value for m in at.markdown)


def test_clamp_shows_a_different_text_and_the_unit_trace(trained_run):
    at = _open(trained_run)
    assert at.selectbox(key="gen_layer").options == ["0", "1"]
    assert at.selectbox(key="gen_quantity").options == [
        "hidden state h", "cell state c", "input gate i", "forget gate f", "candidate g", "output gate o"]
    at.selectbox(key="gen_quantity").set_value("c")
    at.radio(key="gen_clamp_mode").set_value("set it to a value")
    at.radio(key="gen_decoding").set_value("greedy").run()
    assert not at.exception, at.exception
    free, clamped = _texts(at)[2:]
    model, vocab, _ = trained_run.copy_model()
    prefix, length = at.text_area(key="gen_prefix").value, at.slider(key="gen_length").value
    clamp = Clamp(0, 0, 3.0, quantity="c")
    assert free == generate(model, vocab, prefix, length, greedy=True)
    assert clamped == generate_trace(model, vocab, prefix, length, greedy=True, clamp=clamp).text
    assert clamped != free
    assert any(m.value.startswith("**With c[0] of layer 0 clamped to 3") for m in at.markdown)
    chart = at.get("plotly_chart")[0].proto.spec
    assert "without clamp" in chart and "with clamp" in chart and "cell state c unit 0" in chart
