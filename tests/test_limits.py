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


def _many_configs():
    """Every cell type × tied/untied × one-hot × bidirectional × 1-3 layers (valid combinations)."""
    import itertools
    from playground.cells import CELL_TYPES
    for cell, tie, one_hot, bi, layers in itertools.product(CELL_TYPES, (False, True), (False, True),
                                                            (False, True), (1, 3)):
        if tie and one_hot:
            continue                        # tie_weights needs an embedding
        H = 6
        E = 0 if one_hot else (2 * H if bi else H) if tie else 5
        yield ModelConfig(cell=cell, vocab_size=13, embedding_dim=E, hidden_size=H, num_layers=layers,
                          bidirectional=bi, tie_weights=tie)


@pytest.mark.parametrize("mc", list(_many_configs()),
                         ids=lambda c: f"{c.cell}-tie{int(c.tie_weights)}-E{c.embedding_dim}-D{c.num_directions}-L{c.num_layers}")
def test_one_parameter_count_everywhere(mc):
    """models.parameter_count (the formula, tied weights once) is what the model holds, what the
    estimate uses, what the Shapes page's summary totals and what the Train page's header shows."""
    from playground import shapes
    from playground.models import parameter_count
    from playground.ui.train import parameter_count as train_page_count

    with torch.device("meta"):
        model = CharModel(mc)
    real = sum(p.numel() for p in model.parameters())     # a tied tensor is yielded once
    assert parameter_count(mc, 13) == real == count_parameters(model)
    assert estimate(mc, TrainConfig(), 13).parameters == real
    assert shapes.model_summary(mc)["total"] == real
    text = "abcdefghijkl"                                    # 12 characters + <unk> = 13 tokens
    assert train_page_count(ModelConfig.from_dict({**mc.to_dict(), "vocab_size": 0}), text, "char") == (real, 13)


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


def test_stop_acts_within_the_step_in_flight_at_the_largest_settings_the_limits_allow():
    """Stop at the largest settings: at most the step in flight lands, and the trainer is freed
    within a few of this run's own steps (a ratio, not seconds: machines differ)."""
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
    deadline, seen = time.monotonic() + 120, {}
    while run.steps_done < 3 and time.monotonic() < deadline:
        seen.setdefault(run.steps_done, time.monotonic())
        time.sleep(0.02)
    step_seconds = time.monotonic() - seen.get(2, seen.get(1, deadline - 120))   # one step's duration
    t0, at_stop = time.monotonic(), run.steps_done
    run.stop()
    while reg.scheduler.active_jobs() and time.monotonic() - t0 < 20 * step_seconds + 10:
        time.sleep(0.02)
    stopped_after = time.monotonic() - t0
    steps = run.steps_done
    time.sleep(0.5)
    assert run.status == "stopped" and run.steps_done == steps <= at_stop + 1
    assert stopped_after < 3 * step_seconds + 0.5, \
        f"the trainer went on for {stopped_after:.1f} s after Stop, one step takes {step_seconds:.1f} s"
