"""AppTest: the home page and the Train page."""
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from conftest import open_page
from playground.config import ModelConfig
from playground.models import CharModel, count_parameters
from playground.runner import REGISTRY

TIMEOUT = 60
ROOT = Path(__file__).resolve().parent.parent


def train_page() -> AppTest:
    return open_page("pages/1_Train.py")


def summary(at: AppTest) -> str:
    return next(c.value for c in at.caption if "parameters" in c.value)


def shown_parameters(at: AppTest) -> int:
    return int(re.search(r"\*\*([\d,]+) parameters", summary(at)).group(1).replace(",", ""))


@pytest.fixture(autouse=True)
def stop_runs():
    yield
    for run in list(REGISTRY.runs.values()):
        run.stop()
        run.join(10)
        REGISTRY.remove(run.run_id)


def test_home_page_loads_and_links_every_page():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    assert not at.exception
    assert at.title[0].value.endswith("RNN Playground")
    assert any("Start in 30 seconds" in h.value for h in at.subheader)


def test_train_page_loads_with_defaults():
    at = train_page()
    assert not at.exception
    assert at.selectbox(key="corpus").value == "brackets"
    assert at.selectbox(key="cell").value == "LSTM"
    assert [b.label for b in at.button] == ["Start", "Pause", "Step", "Stop", "Reset"]
    assert at.button[1].disabled and at.button[3].disabled  # nothing to pause or stop yet


@pytest.mark.parametrize("changes", [
    {"cell": "GRU"}, {"cell": "RNN_RELU", "hidden_size": 20}, {"hidden_size": 64, "num_layers": 2},
    {"one_hot": True}, {"embedding_dim": 5},
])
def test_widgets_change_the_config_and_the_parameter_count(changes):
    at = train_page()
    before = shown_parameters(at)
    for key, value in changes.items():
        widget = at.toggle(key=key) if key == "one_hot" else (
            at.selectbox(key=key) if key == "cell" else at.number_input(key=key))
        widget.set_value(value)
    at.run()
    assert not at.exception
    cfg = ModelConfig(**{"cell": "LSTM", "embedding_dim": 32, "hidden_size": 128, "num_layers": 1,
                         **{k: v for k, v in changes.items() if k != "one_hot"}})
    if changes.get("one_hot"):
        cfg.embedding_dim = 0
    cfg.vocab_size = 4  # brackets: "(", ")", "\n" and <unk>
    assert shown_parameters(at) == count_parameters(CharModel(cfg)) != before


def test_bidirectional_is_explained_and_blocks_start():
    at = train_page()
    at.checkbox(key="bidirectional").check().run()
    assert any("already seen" in w.value for w in at.warning)
    assert at.button[0].disabled


def test_own_text_pasted_in_any_language():
    at = train_page()
    at.selectbox(key="corpus").set_value("own").run()
    assert any("Upload or paste" in i.value for i in at.info)
    at.text_area(key="corpus_paste").input("循环神经网络 " * 300).run()
    assert not at.exception
    assert any("2,100 characters · 7 distinct" in c.value for c in at.caption)


def test_start_runs_in_background_and_history_appears():
    at = train_page()
    at.number_input(key="steps").set_value(12)
    at.number_input(key="seq_len").set_value(16)
    at.number_input(key="hidden_size").set_value(16)
    at.button[0].click().run()
    assert not at.exception
    run = REGISTRY.active_run(at.session_state["owner_token"])
    assert run is not None and run.model_config.hidden_size == 16
    run.join(30)
    at.run()
    assert run.snapshot().history.shape[0] == 12
    assert any(m.label == "step" and m.value == "12" for m in at.metric)
    assert any("Finished" in str(p.proto.text) for p in at.get("progress"))
    at.text_input(key="sample_prefix").input("((").run()
    at.number_input(key="sample_every").set_value(20).run()
    assert run.settings.prefix == "((" and run.settings.sample_every == 20
    run.start(20)
    run.join(30)
    at.run()
    assert [(x["step"], x["prefix"]) for x in run.samples if x["step"] > 12] == [(20, "(("), (32, "((")]
    assert any(c.value.startswith("((") for c in at.code)


def test_too_short_text_is_a_clear_error_not_a_traceback():
    at = train_page()
    at.selectbox(key="corpus").set_value("own").run()
    at.text_area(key="corpus_paste").input("abc").run()
    at.button[0].click().run()
    assert not at.exception
    assert any("lower batch_size or seq_len" in e.value for e in at.error)
