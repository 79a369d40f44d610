"""The bad-input matrix of the workshop issue: each case gives a clear message and loses nothing."""
import io
import pickle
import re

import pytest
import torch
from streamlit.testing.v1 import AppTest

from conftest import ROOT, open_page, trained_run as make_trained_run
from playground import corpora
from playground.checkpoint import CheckpointError, read_checkpoint, save_checkpoint
from playground.config import ModelConfig, TrainConfig
from playground import runner
from playground.ui.train import _checkpoint_settings


@pytest.fixture(autouse=True)
def free_runs():
    yield
    for run in list(runner.REGISTRY.runs.values()):
        runner.REGISTRY.remove(run.run_id)


@pytest.fixture
def trained_run():
    with make_trained_run(ModelConfig(cell="GRU", embedding_dim=6, hidden_size=8),
                          TrainConfig(seq_len=8, batch_size=4), "abcabcabd " * 60, steps=20,
                          owner="learner-link-token-0123") as run:
        yield run


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def shown_run(at: AppTest):
    return runner.REGISTRY.active_run(at.session_state["owner_token"])


def own_text(text: str, **settings) -> AppTest:
    at = open_page("pages/1_Train.py")
    at.selectbox(key="corpus").set_value("own").run()
    for key, value in settings.items():
        at.number_input(key=key).set_value(value)
    at.text_area(key="corpus_paste").input(text).run()
    return at


def texts(at: AppTest) -> str:
    return " ".join(e.value for e in [*at.error, *at.warning, *at.info])


def test_empty_text_keeps_start_disabled_with_a_pointer():
    at = own_text("   ")
    assert not at.exception and button(at, "Start").disabled
    assert "Upload or paste some text" in texts(at)


@pytest.mark.parametrize("text", ["a", "ab" * 10])
def test_one_character_or_shorter_than_a_batch_is_a_clear_error(text):
    at = own_text(text)
    button(at, "Start").click().run()
    assert not at.exception and shown_run(at) is None
    assert "Could not start" in texts(at) and "lower batch_size or seq_len" in texts(at)


def test_chinese_and_emoji_text_trains():
    at = own_text("循环神经网络🙂🚀 " * 200, seq_len=16, batch_size=4, steps=5)
    button(at, "Start").click().run()
    run = shown_run(at)
    assert not at.exception and run is not None and run.join(30)
    assert run.status == "finished" and run.steps_done == 5
    assert "🙂" in run.val_text(400) or "🙂" in corpora.decode_upload(("🙂" * 3).encode())


def test_binary_non_utf8_empty_and_oversized_uploads_are_refused_with_reasons():
    for data, reason in [(bytes(range(256)) * 10, "not UTF-8"), ("café".encode("latin-1"), "save it as UTF-8"),
                         (b"", "empty")]:
        with pytest.raises(ValueError, match=reason):
            corpora.decode_upload(data)
    config = (ROOT / ".streamlit" / "config.toml").read_text()
    assert "maxUploadSize = 20" in config                   # Streamlit refuses bigger files itself


def test_lr_100_diverges_with_advice_and_a_lower_lr_is_then_applied():
    at = open_page("pages/1_Train.py", query={"cell": "RNN (relu)", "optimizer": "sgd", "clip": "0.0",
                                                "hidden_size": "256", "steps": "500"})
    at.select_slider(key="lr").set_value(100.0).run()
    button(at, "Start").click().run()
    run = shown_run(at)
    assert run.join(60) and run.status == "diverged"
    at.run()
    assert "Training diverged" in texts(at) and "lower learning rate" in texts(at)
    at.select_slider(key="lr").set_value(0.003).run()
    button(at, "Continue (+500 steps)").click().run()
    assert shown_run(at) is run and run.lr == 0.003                 # continued, with the new lr
    assert "with the sidebar's lr 0.003 (was" in " ".join(c.value for c in at.caption)   # the click's acknowledgement
    run.stop()


@pytest.mark.parametrize("hidden_size, ok", [(1, True), (512, True), (513, False)])
def test_hidden_size_one_and_the_maximum(hidden_size, ok):
    at = open_page("pages/1_Train.py", query={"steps": "2", "seq_len": "8", "batch_size": "4"})
    at.number_input(key="hidden_size").set_value(hidden_size).run()
    assert not at.exception
    if ok:
        button(at, "Start").click().run()
        assert shown_run(at).join(60) and shown_run(at).steps_done == 2
    else:
        assert button(at, "Start").disabled
        assert "hidden_size 513 is above this server's limit of 512" in texts(at)


def test_the_largest_settings_that_froze_the_server_are_refused_before_start():
    at = open_page("pages/1_Train.py", query={"seq_len": "512", "batch_size": "512", "num_layers": "8"})
    assert not at.exception and button(at, "Start").disabled and button(at, "Step").disabled
    assert "262,144 tokens per step" in texts(at) and "one step would take about" in texts(at)


def test_malicious_pickle_and_random_bytes_are_refused():
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))
    buf = io.BytesIO()
    torch.save({"format": "rnn-playground/1", "x": Evil()}, buf)
    for data in (buf.getvalue(), pickle.dumps(Evil()), bytes(range(256))):
        with pytest.raises(CheckpointError):
            read_checkpoint(data)


def test_a_checkpoint_from_another_config_brings_its_settings(trained_run):
    ckpt = read_checkpoint(trained_run.checkpoint_bytes())
    values = _checkpoint_settings(ckpt["model_config"], ckpt["train_config"])
    assert values["hidden_size"] == ckpt["model_config"].hidden_size == 8
    assert values["cell"] == "GRU" and values["one_hot"] is False and "device" not in values
    at = open_page("pages/1_Train.py")
    at.session_state["pending_settings"] = values
    at.run()
    assert at.number_input(key="hidden_size").value == 8 and at.selectbox(key="cell").value == "GRU"


def test_a_device_that_is_not_present():
    from playground.train import Trainer
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ValueError, match="no CUDA GPU is available"):
        Trainer(ModelConfig(), TrainConfig(device="cuda"), "ab" * 5000)
    at = open_page("pages/1_Train.py", query={"device": "cuda"})
    assert not at.exception and at.selectbox(key="device").value == "cpu"
    assert "device=cuda" in texts(at)


def test_garbage_and_huge_url_values_are_ignored_and_truncated():
    at = open_page("pages/1_Train.py", query={"hidden_size": "x" * 10_000, "<b>html</b>": "1",
                                                "lr": "NaN", "steps": "-5"})
    assert not at.exception
    note = " ".join(w.value for w in at.warning)
    assert "could not be used" in note and len(note) < 1_000 and "10,000 characters" in note


def test_another_learners_expired_or_wrong_link_starts_an_empty_workspace(trained_run):
    at = open_page("pages/1_Train.py", query={"w": "expiredexpiredexpired12"})
    assert not at.exception and "not on this server any more" in texts(at)
    assert at.session_state["owner_token"] != "expiredexpiredexpired12" and shown_run(at) is None
    at = open_page("pages/1_Train.py", query={"w": "<script>"})
    assert not at.exception and "not valid" in texts(at)


def test_a_learners_link_shows_their_run_and_a_fresh_page_shows_nothing(trained_run):
    runner.REGISTRY.set_active(trained_run.owner, trained_run.run_id)
    runner.REGISTRY.attach(trained_run.owner)
    theirs = open_page("pages/1_Train.py", query={"w": trained_run.owner})
    assert theirs.session_state["owner_token"] == trained_run.owner
    assert any(m.label == "step" and m.value == "20" for m in theirs.metric)
    stranger = open_page("pages/1_Train.py")
    assert stranger.session_state["owner_token"] != trained_run.owner
    assert not any(m.label == "step" for m in stranger.metric)


def test_start_twice_stop_while_paused_reset_while_running_start_while_queued():
    at = open_page("pages/1_Train.py", query={"steps": "50000", "hidden_size": "16"})
    button(at, "Start").click().run()
    run = shown_run(at)
    assert button(at, "Continue (+50,000 steps)").disabled   # Start twice: Continue waits while it trains
    button(at, "Pause").click().run()
    assert run.status == "paused"
    button(at, "Stop").click().run()
    assert run.status == "stopped" and not at.exception
    button(at, "Continue (+50,000 steps)").click().run()    # continues the stopped run
    assert shown_run(at) is run and run.is_active
    button(at, "Reset").click().run()                      # while running: asks first
    assert run.is_active
    button(at, "Yes, reset").click().run()
    assert run.status == "stopped" and "Reset" in run.message
    assert shown_run(at) is None and not at.exception      # no empty run left behind
    run.join(5)


def test_a_loaded_checkpoints_settings_raise_no_session_state_warning(trained_run, monkeypatch):
    """Streamlit logs 'created with a default value but also had its value set via the Session
    State API' (with a stack trace) when a widget's key was set in the same script run."""
    from streamlit.elements.lib import policies
    warnings = []
    monkeypatch.setattr(policies.runtime, "exists", lambda: True)
    monkeypatch.setattr(policies, "_shown_default_value_warning", False)
    monkeypatch.setattr(policies._LOGGER, "warning", lambda msg, *a, **k: warnings.append(msg % a))
    ckpt = read_checkpoint(trained_run.checkpoint_bytes())
    at = open_page("pages/1_Train.py")
    at.session_state["pending_settings"] = _checkpoint_settings(ckpt["model_config"], ckpt["train_config"])
    at.run()
    assert not at.exception and at.number_input(key="hidden_size").value == 8
    assert at.selectbox(key="cell").value == "GRU" and at.toggle(key="one_hot").value is False
    assert not [w for w in warnings if "Session State API" in w]
    at.run()                                            # the settings stay on the next rerun
    assert at.number_input(key="hidden_size").value == 8 and at.selectbox(key="cell").value == "GRU"
    assert at.number_input(key="seq_len").value == 8


@pytest.mark.parametrize("hidden_size", [0, -5, 2000])
def test_a_hidden_size_typed_out_of_range_is_named_and_start_waits(hidden_size):
    """The browser never sends a number outside the widget's range (the box turns red and Start
    trained the previous value): the range is checked on the server instead."""
    at = open_page("pages/1_Train.py", query={"steps": "2", "seq_len": "8", "batch_size": "4"})
    at.number_input(key="hidden_size").set_value(hidden_size).run()
    assert not at.exception and button(at, "Start").disabled and button(at, "Step").disabled
    assert f"hidden_size {hidden_size:,} is outside 1…1,024" in texts(at)
    at.number_input(key="hidden_size").set_value(16).run()
    assert not button(at, "Start").disabled and "outside" not in texts(at)


@pytest.mark.parametrize("top_k, note", [(999, "more than the"), (-1, "below 0")])
def test_generate_top_k_out_of_range_says_it_is_ignored(trained_run, top_k, note):
    at = open_page("pages/5_Generate.py", run=trained_run)
    at.number_input(key="gen_top_k").set_value(top_k)
    button(at, "Generate").click().run()                             # the options are a form
    assert not at.exception
    assert f"Top-k {top_k:,} is {note}" in texts(at) and "it is ignored" in texts(at)
    assert "top-k" not in " ".join(m.value for m in at.markdown if "Sampled" in m.value)


def test_a_long_generate_prefix_is_capped_with_a_message(trained_run):
    from playground.limits import LIMITS
    cap = LIMITS.max_prefix_chars
    at = open_page("pages/5_Generate.py", run=trained_run)
    assert at.text_area(key="gen_prefix").max_chars == cap
    at.text_area(key="gen_prefix").set_value("ab" * cap)            # a client that ignores max_chars
    button(at, "Generate").click().run()
    assert len(at.text_area(key="gen_prefix").value) <= cap
    assert not at.exception
    assert f"The prefix is at this server's limit of {cap:,} characters" in texts(at)


def test_long_own_text_on_hidden_states_is_capped_with_a_message(trained_run):
    from playground.limits import LIMITS
    cap = LIMITS.max_probe_chars
    at = open_page("pages/3_Hidden_states.py", run=trained_run)
    at.radio(key="hid_source").set_value("My own text").run()
    assert at.text_area(key="hid_own_text").max_chars == cap
    at.text_area(key="hid_own_text").set_value("abc " * cap).run()
    assert not at.exception
    assert f"Your text is at this server's limit of {cap:,} characters" in texts(at)
    probed = re.search(r"([\d,]+) tokens, mean loss", " ".join(c.value for c in at.caption))
    assert probed and int(probed.group(1).replace(",", "")) <= cap


def test_the_limits_table_lists_the_text_caps():
    from playground.limits import Limits
    limits = Limits.from_env({"PLAYGROUND_MAX_PREFIX_CHARS": "300", "PLAYGROUND_MAX_PROBE_CHARS": "400"})
    table = dict(limits.table())
    assert table["Generate's prefix"] == "≤ 300 characters" and table["Hidden states' own text"] == "≤ 400 characters"
    assert table["history in an uploaded checkpoint"] == "≤ 100,000 steps"


def test_utf16_with_an_odd_byte_count_and_whitespace_uploads_are_refused_clearly():
    with pytest.raises(ValueError, match="odd number of bytes"):
        corpora.decode_upload("héllo".encode("utf-16") + b"x")
    for blank in (b"  \n\t ", "\ufeff \n".encode("utf-8"), " \n".encode("utf-16")):
        with pytest.raises(ValueError, match="only whitespace"):
            corpora.decode_upload(blank)
    assert corpora.decode_upload("héllo".encode("utf-16")) == "héllo"
