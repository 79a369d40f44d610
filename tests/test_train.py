"""Model, Trainer, generation and checkpoints: pure torch, tiny sizes."""
import io
import math
import os
import pickle

import pytest
import torch
from torch import nn

from playground import corpora
from playground.checkpoint import CheckpointError, load_checkpoint, read_checkpoint, save_checkpoint
from playground.config import ModelConfig, TrainConfig
from playground.generate import generate, next_token_distribution
from playground.models import CharModel, count_parameters
from playground.train import Trainer, TrainingDiverged

torch.set_num_threads(1)
BRACKETS = corpora.load("brackets", 20_000)
SMALL = dict(seq_len=16, batch_size=8)


def small_trainer(cell="LSTM", text=BRACKETS, **train_kwargs):
    return Trainer(ModelConfig(cell=cell, hidden_size=32, embedding_dim=8),
                   TrainConfig(**{**SMALL, **train_kwargs}), text)


@pytest.mark.parametrize("cell", ["RNN_TANH", "RNN_RELU", "LSTM", "GRU"])
@pytest.mark.parametrize("embedding_dim", [0, 8])
def test_every_cell_trains(cell, embedding_dim):
    t = Trainer(ModelConfig(cell=cell, hidden_size=32, embedding_dim=embedding_dim, num_layers=2, dropout=0.1),
                TrainConfig(**SMALL, lr=1e-2), BRACKETS)
    expected_rnn = {"RNN_TANH": nn.RNN, "RNN_RELU": nn.RNN, "LSTM": nn.LSTM, "GRU": nn.GRU}[cell]
    assert type(t.model.rnn) is expected_rnn
    assert t.model.rnn.input_size == (embedding_dim or len(t.vocab))
    if cell.startswith("RNN"):
        assert t.model.rnn.nonlinearity == cell[4:].lower()
    losses = [m.loss for m in t.train_steps(60)]
    assert sum(losses[-10:]) / 10 < sum(losses[:10]) / 10 - 0.1
    assert t.history.shape[0] == 60 and t.history["tokens"].eq(16 * 8).all()


def test_initial_perplexity_is_near_vocab_size():
    t = small_trainer(text=corpora.load("torch_docs", 20_000))
    first = t.step()
    assert len(t.vocab) / 2 < first.perplexity < 2 * len(t.vocab)
    assert math.isclose(first.perplexity, math.exp(first.loss))


def test_overfits_hello():
    t = Trainer(ModelConfig(cell="LSTM", hidden_size=32, embedding_dim=8),
                TrainConfig(seq_len=10, batch_size=4, lr=1e-2, val_fraction=0.1), corpora.load("hello", 2_000))
    t.train_steps(200)
    assert t.history["loss"].tail(10).mean() < 0.05
    assert t.evaluate() < 0.05
    assert generate(t.model, t.vocab, "hel", 7, greedy=True) == "lohello"


def test_same_seed_same_losses_and_different_seed_differs():
    a = [m.loss for m in small_trainer(seed=3, sampler="random").train_steps(15)]
    b = [m.loss for m in small_trainer(seed=3, sampler="random").train_steps(15)]
    c = [m.loss for m in small_trainer(seed=4, sampler="random").train_steps(15)]
    assert a == b and a != c


def test_clipping_records_norm_before_clipping():
    t = small_trainer(clip=1e-3, lr=1e-3)
    m = t.step()
    assert m.clipped and m.grad_norm > 1e-3
    total = torch.sqrt(sum((p.grad ** 2).sum() for p in t.model.parameters()))
    assert total.item() == pytest.approx(1e-3, rel=1e-3)  # gradient was scaled down to the threshold
    unclipped = small_trainer(clip=0).step()
    assert not unclipped.clipped and unclipped.grad_norm > 0


def test_validation_loss_recorded_on_history():
    t = small_trainer()
    t.train_steps(3)
    v = t.evaluate()
    h = t.history
    assert h["val_loss"].iloc[-1] == v and h["val_loss"].iloc[:-1].isna().all()
    assert h["val_perplexity"].iloc[-1] == pytest.approx(math.exp(v))


def test_bidirectional_refused_with_explanation():
    with pytest.raises(ValueError, match="already seen"):
        Trainer(ModelConfig(bidirectional=True), TrainConfig(**SMALL), BRACKETS)


def test_text_too_short_is_a_clear_error():
    with pytest.raises(ValueError, match="lower batch_size or seq_len"):
        Trainer(ModelConfig(), TrainConfig(seq_len=64, batch_size=32), "tiny text")


def test_divergence_stops_with_advice_and_keeps_finite_weights():
    t = Trainer(ModelConfig(cell="RNN_RELU", hidden_size=64, embedding_dim=16), TrainConfig(
        **SMALL, optimizer="sgd", lr=10.0, clip=0), BRACKETS)
    with pytest.raises(TrainingDiverged, match="lower learning rate") as info:
        t.train_steps(500)
    assert "weights from step" in str(info.value)
    assert all(torch.isfinite(p).all() for p in t.model.parameters())
    assert len(t.history) <= t.steps_done and t.history["loss"].map(math.isfinite).all()


def test_nan_loss_detected_before_the_update():
    t = small_trainer()
    t.train_steps(2)
    with torch.no_grad():
        t.model.head.bias.fill_(float("nan"))
    with pytest.raises(TrainingDiverged, match="step 3"):
        t.step()
    assert all(torch.isfinite(p).all() for p in t.model.parameters())  # restored from the good copy


def test_set_lr_applies_to_next_step():
    t = small_trainer()
    t.step()
    t.set_lr(0.05)
    assert t.step().lr == 0.05
    with pytest.raises(ValueError):
        t.set_lr(-1)


def test_word_level_training_and_generation():
    t = small_trainer(text=corpora.load("torch_docs", 20_000), tokenizer="word")
    assert any(len(tok) > 1 for tok in t.vocab.idx_to_token)
    t.train_steps(3)
    out = generate(t.model, t.vocab, "the input", 5, seed=0)
    assert len(out) >= 5 and set(out) <= set(corpora.load("torch_docs", 20_000)) | set("<unk>")


# ---- generation ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained():
    t = small_trainer(cell="GRU")
    t.train_steps(30)
    return t


def test_generate_is_seeded_and_exact_length(trained):
    a = generate(trained.model, trained.vocab, "((", 50, seed=1)
    b = generate(trained.model, trained.vocab, "((", 50, seed=1)
    assert a == b and len(a) == 50 and set(a) <= set("()\n") | {"<unk>"}
    assert generate(trained.model, trained.vocab, "((", 0) == ""


def test_top_k_one_equals_greedy(trained):
    greedy = generate(trained.model, trained.vocab, "(()", 40, greedy=True)
    assert generate(trained.model, trained.vocab, "(()", 40, top_k=1, seed=5) == greedy


def test_generation_carries_state_like_a_full_forward(trained):
    """O(length) generation must equal re-feeding the whole sequence each step."""
    model, vocab = trained.model, trained.vocab
    prefix = "(()("
    fast = generate(model, vocab, prefix, 30, greedy=True)
    ids = vocab[list(prefix)]
    with torch.no_grad():
        for _ in range(30):
            logits, _ = model(torch.tensor([ids]))
            ids.append(int(logits[0, -1].argmax()))
    assert fast == "".join(vocab.to_tokens(ids[len(prefix):]))


def test_next_token_distribution_temperature_and_top_k():
    logits = torch.tensor([2.0, 1.0, 0.0, -1.0])
    p = next_token_distribution(logits, temperature=1.0, top_k=2)
    assert p[2:].sum() == 0 and p.sum().item() == pytest.approx(1.0)
    cold = next_token_distribution(logits, temperature=0.1)
    assert cold[0] > 0.99
    with pytest.raises(ValueError):
        next_token_distribution(logits, temperature=0)


# ---- checkpoints -----------------------------------------------------------------------

def test_checkpoint_round_trip(trained):
    data = save_checkpoint(trained)
    model, vocab, cfg = load_checkpoint(data)
    assert cfg == trained.model_config and vocab.idx_to_token == trained.vocab.idx_to_token
    x = torch.tensor([trained.vocab[list("(()())")]])
    with torch.no_grad():
        assert torch.equal(model(x)[0], trained.model.eval()(x)[0])
    ckpt = read_checkpoint(data)
    resumed = Trainer(cfg, ckpt["train_config"], BRACKETS, vocab=vocab, state_dict=ckpt["state_dict"],
                      history=ckpt["history"])
    assert resumed.steps_done == trained.steps_done
    assert resumed.step().step == trained.steps_done + 1


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /tmp/rnn_playground_pwned",))


def test_malicious_pickle_is_refused():
    buf = io.BytesIO()
    torch.save({"format": "rnn-playground/1", "payload": Evil()}, buf)
    with pytest.raises(CheckpointError, match="could run code"):
        load_checkpoint(buf.getvalue())
    assert not os.path.exists("/tmp/rnn_playground_pwned")
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint"):
        load_checkpoint(pickle.dumps([1, 2, 3])[:5] + b"garbage")


def test_mismatched_checkpoint_is_refused(trained):
    ckpt = read_checkpoint(save_checkpoint(trained))
    state = {k: v for k, v in ckpt["state_dict"].items() if k != "head.bias"}
    buf = io.BytesIO()
    torch.save({"format": "rnn-playground/1", "model_config": ckpt["model_config"].to_dict(),
                "vocab": ckpt["vocab"].to_dict(), "state_dict": state}, buf)
    with pytest.raises(CheckpointError, match="do not match"):
        load_checkpoint(buf.getvalue())
    other = io.BytesIO()
    torch.save({"weights": torch.zeros(2)}, other)
    with pytest.raises(CheckpointError, match="not an RNN Playground checkpoint"):
        load_checkpoint(other.getvalue())


def test_parameter_count_matches_formula():
    cfg = ModelConfig(cell="LSTM", vocab_size=10, embedding_dim=4, hidden_size=6)
    H, E, V = 6, 4, 10
    expected = V * E + 4 * H * (E + H + 2) + V * H + V
    assert count_parameters(CharModel(cfg)) == expected
