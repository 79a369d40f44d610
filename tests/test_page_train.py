"""AppTest: the home page and the Train page."""
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from conftest import free_app_runs, open_page, trained_run
from playground import corpora
from playground.config import ModelConfig, TrainConfig
from playground.models import CharModel, count_parameters
from playground import runner

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
    free_app_runs()


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
    run = runner.REGISTRY.active_run(at.session_state["owner_token"])
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
    assert [(x.step, x.prefix) for x in run.samples if x.step > 12] == [(20, "(("), (32, "((")]
    assert any(c.value.startswith("((") for c in at.code)


def test_too_short_text_is_a_clear_error_not_a_traceback():
    at = train_page()
    at.selectbox(key="corpus").set_value("own").run()
    at.text_area(key="corpus_paste").input("abc").run()
    at.button[0].click().run()
    assert not at.exception
    assert any("lower batch_size or seq_len" in e.value for e in at.error)


# ---- the word_language_model knobs (issue 14) --------------------------------------------

KNOB_LINK = {"corpus": "Arithmetic lines", "embedding_dim": "48", "hidden_size": "48", "tie_weights": "true",
             "embedding_dropout": "0.2", "output_dropout": "0.3", "init": "uniform", "forget_bias": "1.0",
             "optimizer": "sgd", "lr": "20.0", "clip": "0.25", "anneal_factor": "4.0", "tokenizer": "word_ws",
             "seq_len": "8", "batch_size": "4", "steps": "30"}


def test_knob_link_sets_every_control_and_the_run_gets_them():
    at = open_page("pages/1_Train.py", query=KNOB_LINK)
    assert not at.exception
    assert not [w.value for w in at.warning if "ignored" in w.value]
    assert any("word_ws tokens" in c.value for c in at.caption)  # how the tokenizers count, on this text
    at.button[0].click().run()
    assert not at.exception
    run = runner.REGISTRY.active_run(at.session_state["owner_token"])
    mc, tc = run.model_config, run.train_config
    assert (mc.tie_weights, mc.embedding_dropout, mc.output_dropout, mc.init, mc.forget_bias) == \
        (True, 0.2, 0.3, "uniform", 1.0)
    assert (tc.optimizer, tc.lr, tc.clip, tc.anneal_factor, tc.tokenizer) == ("sgd", 20.0, 0.25, 4.0, "word_ws")
    untied = CharModel(ModelConfig.from_dict({**mc.to_dict(), "tie_weights": False}))
    assert shown_parameters(at) == count_parameters(CharModel(mc)) == \
        count_parameters(untied) - mc.vocab_size * 48
    run.join(60)
    at.run()
    bpc = run.snapshot().history["val_bits_per_char"].dropna()
    assert len(bpc) and any(m.label == "val bits/char" and m.value == f"{bpc.iloc[-1]:.3f}" for m in at.metric)


def test_tied_weights_with_different_sizes_say_why_and_block_start():
    at = train_page()
    at.toggle(key="tie_weights").set_value(True).run()
    assert any("embedding_dim == hidden_size" in e.value for e in at.error)
    assert at.button[0].disabled
    at.number_input(key="embedding_dim").set_value(128).run()   # hidden_size is 128
    assert not at.error and not at.button[0].disabled


@pytest.mark.parametrize("changes", [{"optimizer": "adamw"}, {"lr": 100.0}, {"tokenizer": "word_ws"},
                                     {"output_dropout": 0.5}, {"forget_bias": 2.0}])
def test_knob_widgets_make_valid_configs(changes):
    at = train_page()
    for key, value in changes.items():
        kind = {"optimizer": at.radio, "tokenizer": at.radio, "lr": at.select_slider,
                "output_dropout": at.slider, "forget_bias": at.number_input}[key]
        kind(key=key).set_value(value)
    at.run()
    assert not at.exception and not at.error
    assert not at.button[0].disabled


def test_shapes_page_summarises_the_trained_model_with_its_true_parameter_count():
    cfg = ModelConfig(cell="LSTM", embedding_dim=12, hidden_size=12, tie_weights=True, output_dropout=0.2,
                      forget_bias=1.0)
    with trained_run(cfg, TrainConfig(seq_len=8, batch_size=4), corpora.load("brackets", 5_000), 2) as run:
        at = open_page("pages/2_Shapes.py", run=run)
        assert not at.exception
        total = next(c.value for c in at.caption if c.value.startswith("Total **"))
        shown = int(re.search(r"\*\*([\d,]+) parameters", total).group(1).replace(",", ""))
        model, _, _ = run.copy_model()
        assert shown == count_parameters(model) and "same as the model's own count" in total
        table = next(df.value for df in at.dataframe if "layer" in df.value.columns)
        assert list(table["layer"]) == ["embedding", "embedding_dropout", "rnn", "output_dropout", "head"]
        assert "tied" in table["note"].iloc[-1]


def test_every_setting_starts_at_the_config_default_and_the_default_link_is_bare():
    """The sidebar's defaults are ModelConfig()'s and TrainConfig()'s (one place for settings):
    each widget shows its config field's default, and a link of untouched settings says nothing."""
    from playground.ui import train as train_ui

    at = train_page()
    configs = {**ModelConfig().to_dict(), **TrainConfig().to_dict()}
    shown = {w.key: w.value for kind in ("selectbox", "number_input", "slider", "select_slider",
                                         "radio", "checkbox", "toggle")
             for w in at.get(kind) if w.key in train_ui.SETTINGS}
    assert set(shown) == set(train_ui.SETTINGS)
    for key in set(train_ui.SETTINGS) & set(configs):
        assert shown[key] == configs[key], key
    assert (shown["corpus"], shown["steps"], shown["one_hot"]) == \
        ("brackets", train_ui.DEFAULT_STEPS, ModelConfig().embedding_dim == 0)
    assert not any("/Train" in c.value for c in at.code)   # "Share these settings" is closed: not built
    at.session_state["share_open"] = True                  # the learner opens it
    link = next(c.value for c in at.run().code if "/Train" in c.value)
    assert link.endswith("/Train"), link  # no parameter: every value is the default


def test_moving_the_lr_widget_changes_a_training_runs_lr_and_drawing_does_not():
    """The lr change is an explicit action (the widget's on_change), not a side effect of drawing."""
    at = open_page("pages/1_Train.py", query={"steps": "50000", "hidden_size": "16", "seq_len": "8",
                                               "batch_size": "4", "lr": "0.003"})
    next(b for b in at.button if b.label == "Start").click().run()
    run = runner.REGISTRY.active_run(at.session_state["owner_token"])
    assert run is not None and run.is_active and run.base_lr == 0.003
    run.set_lr(0.01)                               # e.g. another tab of the same link changed it
    at.run()                                       # a redraw with the sidebar still at 0.003
    assert run.base_lr == 0.01
    at.select_slider(key="lr").set_value(0.03).run()   # the learner moves the slider
    assert run.base_lr == 0.03
    assert any("→ 0.03: pending" in t.value for t in at.toast)


def test_closed_expanders_are_not_built_and_open_ones_are():
    """"This server's limits", "Save or resume a run" and "Share these settings" are built only
    while open: every rerun of a live Train page (a room's clicks and loads) skips them."""
    at = train_page()
    assert not at.table and not at.get("download_button")
    for key in ("limits_open", "save_open", "share_open"):
        at.session_state[key] = True
    at.run()
    assert at.table[0].value.loc["hidden_size"].item() == f"≤ {runner.REGISTRY.limits.max_hidden_size:,}"
    assert any("/Train" in c.value for c in at.code)
    assert any(u.label == "Resume from a checkpoint" for u in at.get("file_uploader"))
