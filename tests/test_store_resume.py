"""Exact resume: a seeded run interrupted after N steps, saved to bytes and restored into a fresh
Trainer, continues with the losses of an uninterrupted run (pure torch, tiny sizes)."""
import pytest
import torch

from playground import corpora
from playground.config import ModelConfig, TrainConfig
from playground.resume import (ResumeError, load_trainer_state, read_state, restore_trainer, state_bytes,
                               trainer_state)
from playground.train import Trainer

torch.set_num_threads(1)
TEXT = corpora.load("brackets", 3_000)   # ~21 batches per epoch: 2N steps cross an epoch
N = 16


def make(sampler, optimizer="adam", cell="LSTM", **model):
    mc = ModelConfig(cell=cell, hidden_size=24, embedding_dim=8, **model)
    tc = TrainConfig(seq_len=16, batch_size=8, sampler=sampler, optimizer=optimizer, seed=3,
                     anneal_factor=4.0)
    return Trainer(mc, tc, TEXT)


def train(trainer, steps):
    """Steps with a validation measurement every 5 (exercises annealing state)."""
    losses = []
    for _ in range(steps):
        losses.append(trainer.step().loss)
        if trainer.steps_done % 5 == 0:
            trainer.evaluate()
    return losses


@pytest.mark.parametrize("sampler,optimizer,cell,model", [
    ("consecutive", "adam", "LSTM", {}),
    ("random", "adam", "LSTM", {}),
    ("consecutive", "sgd", "GRU", {"embedding_dropout": 0.3, "output_dropout": 0.2}),
    ("random", "adamw", "RNN_TANH", {"output_dropout": 0.2}),
])
def test_resumed_run_continues_with_the_uninterrupted_losses(sampler, optimizer, cell, model):
    whole = make(sampler, optimizer, cell, **model)
    reference = train(whole, 2 * N)

    first = make(sampler, optimizer, cell, **model)
    assert train(first, N) == pytest.approx(reference[:N], abs=0)
    data = state_bytes(trainer_state(first))
    del first
    torch.manual_seed(12345)          # what happened in between must not matter
    resumed = restore_trainer(data, TEXT)
    assert resumed.steps_done == N
    assert train(resumed, N) == pytest.approx(reference[N:], rel=1e-6, abs=1e-7)
    assert resumed.lr == pytest.approx(whole.lr)
    assert resumed._epoch == whole._epoch >= 1
    h, ref = resumed.history, whole.history
    assert list(h["step"]) == list(ref["step"]) == list(range(1, 2 * N + 1))
    assert h["val_loss"].dropna().tolist() == pytest.approx(ref["val_loss"].dropna().tolist(), rel=1e-6)


def test_state_holds_optimizer_moments_and_sampler_position():
    t = make("consecutive")
    train(t, 7)
    state = read_state(state_bytes(trainer_state(t)))
    assert state["steps_done"] == 7 and state["epoch_batches"] == 7 and state["epoch"] == 0
    moments = state["optimizer"]["state"]
    assert moments and all("exp_avg" in s and "exp_avg_sq" in s for s in moments.values())
    assert isinstance(state["hidden"], tuple) and state["hidden"][0].shape == (1, 8, 24)   # LSTM (h, c)


def test_state_is_a_copy_not_the_live_tensors():
    t = make("consecutive")
    train(t, 3)
    state = trainer_state(t)
    before = state["model"]["head.weight"].clone()
    train(t, 3)
    assert torch.equal(state["model"]["head.weight"], before)


def test_mismatched_or_foreign_state_is_refused():
    t = make("random")
    train(t, 2)
    other = Trainer(ModelConfig(cell="GRU", hidden_size=24, embedding_dim=8),
                    TrainConfig(seq_len=16, batch_size=8, sampler="random", seed=3), TEXT)
    with pytest.raises(ValueError, match="model_config differs"):
        load_trainer_state(other, trainer_state(t))
    with pytest.raises(ResumeError, match="not a PyTorch file"):
        read_state(b"not a zip")
    with pytest.raises(ResumeError, match="not an RNN Playground trainer state"):
        read_state(state_bytes({"format": "something else"}))
