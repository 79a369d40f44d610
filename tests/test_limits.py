"""The instructor's limits and a run's cost estimated from its config, before Start."""
import pytest
import torch

from playground.config import ModelConfig, TrainConfig
from playground.limits import Limits, check, estimate
from playground.models import CharModel, count_parameters

CONFIGS = [ModelConfig(), ModelConfig(cell="GRU", hidden_size=64, num_layers=3, embedding_dim=0),
           ModelConfig(cell="RNN_TANH", hidden_size=7, num_layers=2, embedding_dim=5)]


@pytest.mark.parametrize("mc", CONFIGS, ids=lambda c: f"{c.cell}-{c.num_layers}")
def test_estimated_parameters_equal_the_real_model(mc):
    mc = ModelConfig.from_dict({**mc.to_dict(), "vocab_size": 11})
    with torch.device("meta"):
        real = count_parameters(CharModel(mc))
    assert estimate(mc, TrainConfig(), 11).parameters == real


def test_cost_grows_with_batch_tokens_and_layers():
    small = estimate(ModelConfig(num_layers=1), TrainConfig(seq_len=32, batch_size=8), 50)
    wide = estimate(ModelConfig(num_layers=1), TrainConfig(seq_len=32, batch_size=16), 50)
    deep = estimate(ModelConfig(num_layers=2), TrainConfig(seq_len=32, batch_size=8), 50)
    assert wide.flops_per_step == pytest.approx(2 * small.flops_per_step)
    assert deep.flops_per_step > small.flops_per_step and deep.memory_bytes > small.memory_bytes


def test_the_frozen_server_config_is_refused_with_numbers():
    """LSTM 8 × 1024, embedding 1024, seq_len 512, batch 512 froze the server before limits."""
    mc, tc = ModelConfig(hidden_size=1024, num_layers=8, embedding_dim=1024), TrainConfig(seq_len=512, batch_size=512)
    why = " ".join(check(mc, tc, 100, 1000, Limits()))
    for text in ("hidden_size 1,024", "num_layers 8", "262,144 tokens per step", "one step would take about",
                 "MB of memory"):
        assert text in why


def test_defaults_fit_and_the_largest_allowed_step_is_short():
    assert check(ModelConfig(), TrainConfig(), 100, 1000, Limits()) == []
    limits = Limits()
    biggest = ModelConfig(hidden_size=limits.max_hidden_size, num_layers=limits.max_num_layers,
                          embedding_dim=limits.max_embedding_dim)
    for tokens in (16, 64, 256, 1024):
        tc = TrainConfig(seq_len=tokens, batch_size=1)
        if not check(biggest, tc, 100, 1000, limits):
            assert estimate(biggest, tc, 100).step_seconds <= limits.max_step_seconds
    # 30 learners at the memory limit fit in this machine's 24 GB with room for the server
    assert 30 * limits.max_run_memory_mb < 24 * 1024 * 0.75


def test_limits_from_environment_variables():
    env = {"PLAYGROUND_MAX_HIDDEN_SIZE": "256", "PLAYGROUND_GRACE_MINUTES": "0.5",
           "PLAYGROUND_MAX_STEPS": "oops", "PLAYGROUND_MAX_RUNS": "3"}
    limits = Limits.from_env(env)
    assert limits.max_hidden_size == 256 and limits.grace_minutes == 0.5
    assert limits.max_steps == Limits().max_steps          # a bad value is ignored
    assert limits.max_concurrent == 3                      # the old variable still works
    assert dict(limits.table())["hidden_size"] == "≤ 256"


def test_stop_acts_within_two_seconds_at_the_largest_settings_the_limits_allow():
    import time

    from playground import corpora
    from playground.runner import RunRegistry

    limits = Limits()
    mc = ModelConfig(hidden_size=limits.max_hidden_size, num_layers=limits.max_num_layers,
                     embedding_dim=limits.max_embedding_dim)
    batch = max(b for b in range(1, 257) if not check(mc, TrainConfig(seq_len=32, batch_size=b), 4, 10, limits))
    reg = RunRegistry(max_concurrent=1, limits=limits)
    run = reg.create(mc, TrainConfig(seq_len=32, batch_size=batch), corpora.load("brackets", 200_000), owner="big")
    run.start(10_000)
    deadline = time.monotonic() + 60
    while run.steps_done < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    t0 = time.monotonic()
    run.stop()
    while reg.scheduler.active_jobs() and time.monotonic() - t0 < 10:
        time.sleep(0.02)
    stopped_after = time.monotonic() - t0
    steps = run.steps_done
    time.sleep(0.5)
    assert run.status == "stopped" and run.steps_done == steps
    assert stopped_after < 2.0, f"the trainer went on for {stopped_after:.1f} s after Stop (batch_size {batch})"
