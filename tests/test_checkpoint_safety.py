"""Uploaded checkpoints are checked before anything they describe is allocated (issue 19,
bad cases 1 and 2): zip bombs, forged configs, vocabularies, histories and tensor shapes."""
import io
import zipfile

import pytest
import torch

from playground import checkpoint as ck
from playground.checkpoint import CheckpointError, read_checkpoint, save_checkpoint
from playground.config import ModelConfig, TrainConfig
from playground.limits import Limits
from playground.train import Trainer

SMALL = Limits(max_run_memory_mb=4)          # weights may unpack to 1 MB


@pytest.fixture(scope="module")
def trainer():
    t = Trainer(ModelConfig(cell="GRU", embedding_dim=6, hidden_size=8), TrainConfig(seq_len=8, batch_size=4),
                "abcabcabd " * 60)
    t.train_steps(3)
    t.evaluate()
    return t


@pytest.fixture(scope="module")
def valid(trainer) -> dict:
    return torch.load(io.BytesIO(save_checkpoint(trainer)), weights_only=True)


def saved(obj: dict) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def deflated(data: bytes) -> bytes:
    """Every entry rewritten with ZIP_DEFLATED level 9 (the issue's zip bomb recipe)."""
    src, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as dst:
        for info in src.infolist():
            with dst.open(info.filename, "w", force_zip64=True) as f:
                f.write(src.read(info))
    return out.getvalue()


def forged(valid: dict, **changes) -> bytes:
    obj = {**valid, **changes}
    return saved(obj)


def with_model(valid: dict, **fields) -> bytes:
    return forged(valid, model_config={**valid["model_config"], **fields})


def test_a_valid_checkpoint_round_trips_with_its_history(trainer, valid):
    ckpt = read_checkpoint(save_checkpoint(trainer))
    assert ckpt["history"] == trainer.history_rows()         # columns back to the same rows
    assert "val_loss" in ckpt["history"][-1] and "val_loss" not in ckpt["history"][0]
    assert isinstance(ckpt["history"][0]["step"], int) and isinstance(ckpt["history"][0]["clipped"], bool)
    older = forged(valid, history=trainer.history_rows())    # checkpoints written as row dicts
    assert read_checkpoint(older)["history"] == trainer.history_rows()


def test_a_zip_bomb_is_refused_from_its_declared_sizes_before_torch_load(monkeypatch):
    bomb = deflated(saved({"format": ck.FORMAT, "junk": torch.zeros(2_000_000)}))   # 8 MB declared
    assert len(bomb) < 100_000
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("torch.load ran on a zip bomb"))
    with pytest.raises(CheckpointError, match=r"weights would unpack to 7\.6 MB, above this server's limit of 1 MB"):
        read_checkpoint(bomb, SMALL)


def test_a_huge_pickled_part_is_refused_before_loading(valid, monkeypatch):
    monkeypatch.setattr(ck, "PICKLE_LIMIT", 10_000)
    data = forged(valid, history=[{"step": i, "loss": 1.0} for i in range(5_000)])
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("torch.load ran"))
    with pytest.raises(CheckpointError, match="settings, vocabulary and history would unpack to"):
        read_checkpoint(data)


@pytest.mark.parametrize("hidden_size, message", [
    (12_000, "this checkpoint's hidden_size 12,000 is above this server's limit of 512"),
    (10**6, "this checkpoint's hidden_size 1,000,000 is above this server's limit of 512")])
def test_a_forged_hidden_size_is_refused_before_the_model_is_built(valid, monkeypatch, hidden_size, message):
    monkeypatch.setattr(ck, "CharModel", lambda *a: pytest.fail("a model was built"))
    with pytest.raises(CheckpointError, match=message):
        read_checkpoint(with_model(valid, hidden_size=hidden_size))


def test_bad_configs_are_named(valid):
    with pytest.raises(CheckpointError, match="hidden_size must be an integer >= 1"):
        read_checkpoint(with_model(valid, hidden_size=-5))
    with pytest.raises(CheckpointError, match="seq_len × batch_size = 4,096 × 512"):
        read_checkpoint(forged(valid, train_config={**valid["train_config"], "seq_len": 4096, "batch_size": 512}))


def test_a_huge_vocabulary_is_refused_against_the_limits(valid):
    tokens = ["<unk>"] + [f"t{i}" for i in range(99_999)]
    data = forged(valid, vocab={**valid["vocab"], "idx_to_token": tokens},
                  model_config={**valid["model_config"], "vocab_size": len(tokens)})
    with pytest.raises(CheckpointError, match="this checkpoint's .*run would need about 60 MB.*above the limit "
                                              "of 32 MB per run"):
        read_checkpoint(data, Limits(max_run_memory_mb=32))


def test_a_vocabulary_that_does_not_match_its_model_is_refused(valid):
    with pytest.raises(CheckpointError, match="vocab has 2 tokens but its model expects"):
        read_checkpoint(forged(valid, vocab={**valid["vocab"], "idx_to_token": ["<unk>", "a"]}))


def test_a_forged_long_history_is_refused(valid):
    rows = [{"step": i, "loss": 1.0} for i in range(1_001)]
    with pytest.raises(CheckpointError, match="history has 1,001 steps, above this server's limit of 1,000"):
        read_checkpoint(forged(valid, history=ck.pack_history(rows)), Limits(max_history_rows=1_000))
    with pytest.raises(CheckpointError, match="history has 1,001 steps"):
        read_checkpoint(forged(valid, history=rows), Limits(max_history_rows=1_000))
    with pytest.raises(CheckpointError, match="other than numbers"):
        read_checkpoint(forged(valid, history=[{"step": "x" * 100}]))


def test_a_tensor_of_the_wrong_shape_is_named_with_the_shape_its_settings_need(valid):
    sd = dict(valid["state_dict"])
    sd["rnn.weight_hh_l0"] = torch.zeros(24, 9)
    with pytest.raises(CheckpointError, match=r"rnn.weight_hh_l0 has shape \(24, 9\), but its settings "
                                               r"\(GRU, hidden_size 8, \|V\| 6\) need \(24, 8\)"):
        read_checkpoint(forged(valid, state_dict=sd))


def test_missing_and_extra_weights_and_missing_keys_are_named(valid):
    sd = {k: v for k, v in valid["state_dict"].items() if k != "head.bias"}
    with pytest.raises(CheckpointError, match="missing head.bias"):
        read_checkpoint(forged(valid, state_dict=sd))
    with pytest.raises(CheckpointError, match="unexpected extra"):
        read_checkpoint(forged(valid, state_dict={**valid["state_dict"], "extra": torch.zeros(1)}))
    for key, message in [("model_config", "no model settings"), ("vocab", "no vocabulary"),
                         ("state_dict", "no weights")]:
        with pytest.raises(CheckpointError, match=message):
            read_checkpoint(saved({k: v for k, v in valid.items() if k != key}))


def test_expected_shapes_cost_no_memory():
    shapes = ck.expected_shapes(ModelConfig(cell="LSTM", hidden_size=512, vocab_size=100_000, embedding_dim=512))
    assert shapes["head.weight"] == (100_000, 512) and shapes["rnn.weight_hh_l0"] == (2048, 512)


def test_a_long_history_is_saved_as_columns_not_pickled_rows(trainer, valid):
    """Unpickling 100,000 row dicts took 15 s; columns keep the pickled part small."""
    rows = [dict(trainer.history_rows()[0], step=i) for i in range(50_000)]
    data = forged(valid, history=ck.pack_history(rows))
    pickled = zipfile.ZipFile(io.BytesIO(data)).getinfo("archive/data.pkl").file_size
    assert pickled < 20_000
    assert read_checkpoint(data)["history"] == rows
