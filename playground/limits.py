"""What one server allows: the instructor's limits, and a run's cost estimated before Start.

Every limit is an environment variable read once at server start (README, "Running a
workshop"), e.g. `PLAYGROUND_MAX_HIDDEN_SIZE=256 streamlit run app.py`.

A run's cost from its config alone (B = batch_size, T = seq_len, H = hidden_size,
G = gate blocks (LSTM 4, GRU 3, RNN 1), L = num_layers, I_l = input size of layer l, V = |V|):
    MACs per token  = sum_l G·H·(I_l + H) + H·V            # recurrent layers + decoder
    FLOPs per step  = 6 · B·T · MACs per token              # forward 2, backward 4
    P               = models.parameter_count (tied weights counted once)
    step seconds    = FLOPs per step / the cell type's flops_per_second (cells.py, measured)
    memory          = 4 bytes · (4·P                        # weights, grads, two Adam moments
                      + B·T·(sum_l (I_l + (G + 2)·H) + 3·V))  # saved activations, logits
                    + N · id bytes                          # the corpus's N token ids (encoded.py:
                                                            # 1, 2 or 4 bytes each by |V|)
"""
from __future__ import annotations

import os
from dataclasses import dataclass, fields

from .cells import cell_type
from .encoded import id_bytes
from .config import ModelConfig, TrainConfig
from .models import parameter_count


@dataclass(frozen=True)
class Limits:
    max_hidden_size: int = 512          # PLAYGROUND_MAX_HIDDEN_SIZE
    max_embedding_dim: int = 512        # PLAYGROUND_MAX_EMBEDDING_DIM
    max_num_layers: int = 4             # PLAYGROUND_MAX_NUM_LAYERS
    max_batch_tokens: int = 16_384      # PLAYGROUND_MAX_BATCH_TOKENS: seq_len × batch_size
    max_steps: int = 50_000             # PLAYGROUND_MAX_STEPS: steps per Start
    max_wall_minutes: float = 60.0      # PLAYGROUND_MAX_WALL_MINUTES: training time per Start
    max_step_seconds: float = 1.0       # PLAYGROUND_MAX_STEP_SECONDS: estimated time of one step
    max_run_memory_mb: int = 512        # PLAYGROUND_MAX_RUN_MEMORY_MB: estimated memory of one run
    max_runs_per_learner: int = 8       # PLAYGROUND_MAX_RUNS_PER_LEARNER: runs alive per link
    max_active_per_client: int = 2      # PLAYGROUND_MAX_ACTIVE_PER_CLIENT: runs training or paused per person
    max_concurrent: int = 0             # PLAYGROUND_MAX_CONCURRENT: trainer threads (0: CPU cores)
    grace_minutes: float = 10.0         # PLAYGROUND_GRACE_MINUTES: runs kept after the last viewer
    keep_days: float = 7.0              # PLAYGROUND_KEEP_DAYS: links unseen this long are deleted with their runs
    max_history_rows: int = 100_000     # PLAYGROUND_MAX_HISTORY_ROWS: steps of history a checkpoint may bring
    max_prefix_chars: int = 2_000       # PLAYGROUND_MAX_PREFIX_CHARS: Generate's prefix
    max_probe_chars: int = 5_000        # PLAYGROUND_MAX_PROBE_CHARS: Hidden states' own text

    def __post_init__(self):
        if self.max_concurrent <= 0:
            object.__setattr__(self, "max_concurrent", max(2, os.cpu_count() or 2))

    @classmethod
    def from_env(cls, env: dict | None = None) -> "Limits":
        """Limits from PLAYGROUND_* variables; a value that is not a positive number is ignored."""
        env = os.environ if env is None else env
        values = {}
        for f in fields(cls):
            raw = env.get(f"PLAYGROUND_{f.name.upper()}")
            if f.name == "max_concurrent" and raw is None:
                raw = env.get("PLAYGROUND_MAX_RUNS")  # its name before the scheduler
            try:
                value = float(raw) if raw is not None else None
            except ValueError:
                value = None
            if value is not None and value > 0:
                values[f.name] = int(value) if f.type in (int, "int") else value
        return cls(**values)

    def table(self) -> list[tuple[str, str]]:
        """(what, value) rows for the sidebar."""
        return [("hidden_size", f"≤ {self.max_hidden_size:,}"),
                ("embedding_dim", f"≤ {self.max_embedding_dim:,}"),
                ("num_layers", f"≤ {self.max_num_layers}"),
                ("seq_len × batch_size", f"≤ {self.max_batch_tokens:,}"),
                ("steps per Start", f"≤ {self.max_steps:,}"),
                ("training time per Start", f"≤ {self.max_wall_minutes:g} min"),
                ("one step (estimated)", f"≤ {self.max_step_seconds:g} s"),
                ("memory per run (estimated)", f"≤ {self.max_run_memory_mb:,} MB"),
                ("runs kept per link", f"≤ {self.max_runs_per_learner}"),
                ("runs training at once per person", f"≤ {self.max_active_per_client} (people share the "
                                                     "trainers equally, then each person's runs)"),
                ("trainers at once", f"{self.max_concurrent} (all runs take turns)"),
                ("runs kept in memory after the last viewer leaves", f"{self.grace_minutes:g} min"),
                ("links kept (with their runs) after their last visit", f"{self.keep_days:g} days"),
                ("history in an uploaded checkpoint", f"≤ {self.max_history_rows:,} steps"),
                ("Generate's prefix", f"≤ {self.max_prefix_chars:,} characters"),
                ("Hidden states' own text", f"≤ {self.max_probe_chars:,} characters")]


@dataclass(frozen=True)
class Cost:
    parameters: int
    flops_per_step: float
    memory_bytes: float
    flops_per_second: float = 25e9
    corpus_bytes: float = 0.0       # the token ids (counted in memory_bytes too)

    @property
    def step_seconds(self) -> float:
        """Estimated seconds of one training step on one core."""
        return self.flops_per_step / self.flops_per_second

    @property
    def memory_mb(self) -> float:
        return self.memory_bytes / 2**20


def estimate(mc: ModelConfig, tc: TrainConfig, vocab_size: int, corpus_tokens: int = 0) -> Cost:
    """A run's parameters, FLOPs per step and memory from its config and its corpus's length in
    tokens (formulas above)."""
    ct = cell_type(mc.cell)
    g, h, v, d = len(ct.gates), mc.hidden_size, vocab_size, mc.num_directions
    inputs = [mc.embedding_dim or v] + [d * h] * (mc.num_layers - 1)       # I_l
    params = parameter_count(mc, vocab_size)                               # tied weights once
    macs = sum(d * g * h * (i + h) for i in inputs) + d * h * v
    tokens = tc.batch_size * tc.seq_len
    activations = tokens * (sum(i + d * (g + 2) * h for i in inputs) + 3 * v)
    corpus = float(corpus_tokens * id_bytes(vocab_size))
    return Cost(parameters=params, flops_per_step=6.0 * tokens * macs, corpus_bytes=corpus,
                memory_bytes=4.0 * (4 * params + activations) + corpus, flops_per_second=ct.flops_per_second)


def check(mc: ModelConfig, tc: TrainConfig, vocab_size: int, steps: int, limits: Limits,
          corpus_tokens: int = 0) -> list[str]:
    """Why this server cannot train this run (empty if it can), each reason with its numbers."""
    why = []
    if mc.hidden_size > limits.max_hidden_size:
        why.append(f"hidden_size {mc.hidden_size:,} is above this server's limit of {limits.max_hidden_size:,}")
    if mc.embedding_dim > limits.max_embedding_dim:
        why.append(f"embedding_dim {mc.embedding_dim:,} is above the limit of {limits.max_embedding_dim:,}")
    if mc.num_layers > limits.max_num_layers:
        why.append(f"num_layers {mc.num_layers} is above the limit of {limits.max_num_layers}")
    tokens = tc.seq_len * tc.batch_size
    if tokens > limits.max_batch_tokens:
        why.append(f"seq_len × batch_size = {tc.seq_len:,} × {tc.batch_size:,} = {tokens:,} tokens per step "
                   f"is above the limit of {limits.max_batch_tokens:,}")
    if steps > limits.max_steps:
        why.append(f"{steps:,} steps per Start is above the limit of {limits.max_steps:,}")
    cost = estimate(mc, tc, vocab_size, corpus_tokens)
    if cost.step_seconds > limits.max_step_seconds:
        why.append(f"one step would take about {cost.step_seconds:,.1f} s ({cost.flops_per_step / 1e9:,.0f} GFLOP) "
                   f"on this server, above its limit of {limits.max_step_seconds:g} s: a smaller hidden_size, "
                   "num_layers, seq_len or batch_size makes it faster")
    if cost.memory_mb > limits.max_run_memory_mb:
        corpus = f" and {cost.corpus_bytes / 2**20:,.0f} MB of token ids" if cost.corpus_bytes >= 2**20 else ""
        why.append(f"the run would need about {cost.memory_mb:,.0f} MB of memory (weights, gradients, Adam "
                   f"state, activations{corpus}), above the limit of {limits.max_run_memory_mb:,} MB per run")
    return why


LIMITS = Limits.from_env()
