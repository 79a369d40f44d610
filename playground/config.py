"""Model and training configuration: plain dataclasses, validated on construction.

Every field name is the one used in labels, docs and the rest of the code
(`hidden_size`, `num_layers`, `seq_len`, ...). Invalid values raise ValueError
with a message a learner can act on.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

CELLS = ("RNN_TANH", "RNN_RELU", "LSTM", "GRU")
OPTIMIZERS = ("adam", "sgd")
SAMPLERS = ("consecutive", "random")
DEVICES = ("cpu", "cuda", "mps")
TOKENIZERS = ("char", "word")


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _int_at_least(name: str, value, low: int) -> None:
    _check(isinstance(value, int) and not isinstance(value, bool) and value >= low,
           f"{name} must be an integer >= {low}, got {value!r}")


def _from_dict(cls, d: dict):
    """Build `cls` from a dict, ignoring unknown keys (older/newer checkpoints, URLs)."""
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in dict(d).items() if k in names})


@dataclass
class ModelConfig:
    cell: str = "LSTM"          # "RNN_TANH" | "RNN_RELU" | "LSTM" | "GRU"
    vocab_size: int = 0         # 0 -> taken from the vocab built from the text
    embedding_dim: int = 32     # 0 -> one-hot input (input_size = vocab_size)
    hidden_size: int = 128      # features in the hidden state h
    num_layers: int = 1         # stacked recurrent layers
    dropout: float = 0.0        # between stacked layers (needs num_layers > 1 to matter)
    bidirectional: bool = False  # a next-token model must not see the future; see Trainer

    def __post_init__(self):
        _check(self.cell in CELLS, f"cell must be one of {', '.join(CELLS)}, got {self.cell!r}")
        _int_at_least("vocab_size", self.vocab_size, 0)
        _int_at_least("embedding_dim", self.embedding_dim, 0)
        _int_at_least("hidden_size", self.hidden_size, 1)
        _int_at_least("num_layers", self.num_layers, 1)
        _check(isinstance(self.dropout, (int, float)) and 0.0 <= self.dropout < 1.0,
               f"dropout must be in [0, 1), got {self.dropout!r}")
        self.dropout = float(self.dropout)
        self.bidirectional = bool(self.bidirectional)

    @property
    def input_size(self) -> int:
        """Features fed to the first recurrent layer: embedding_dim, or vocab_size for one-hot."""
        return self.embedding_dim or self.vocab_size

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        return _from_dict(cls, d)


@dataclass
class TrainConfig:
    seq_len: int = 64           # time steps per training window (num_steps in d2l)
    batch_size: int = 32        # windows per minibatch
    lr: float = 3e-3            # learning rate
    optimizer: str = "adam"     # "adam" | "sgd"
    clip: float = 1.0           # max global gradient norm; 0 = no clipping
    sampler: str = "consecutive"  # "consecutive" (state carried, detached) | "random" (state reset)
    seed: int = 0               # seeds weights, sampling and dropout
    device: str = "cpu"         # "cpu" | "cuda" | "mps"
    val_fraction: float = 0.1   # tail of the text held out for validation loss
    tokenizer: str = "char"     # "char" | "word" tokens for the Vocab
    min_freq: int = 0           # tokens rarer than this map to <unk>

    def __post_init__(self):
        _int_at_least("seq_len", self.seq_len, 1)
        _int_at_least("batch_size", self.batch_size, 1)
        _check(isinstance(self.lr, (int, float)) and 0 < self.lr <= 10,
               f"lr must be in (0, 10], got {self.lr!r}")
        self.lr = float(self.lr)
        _check(self.optimizer in OPTIMIZERS,
               f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        _check(isinstance(self.clip, (int, float)) and self.clip >= 0,
               f"clip must be >= 0 (0 turns clipping off), got {self.clip!r}")
        self.clip = float(self.clip)
        _check(self.sampler in SAMPLERS,
               f"sampler must be one of {', '.join(SAMPLERS)}, got {self.sampler!r}")
        _int_at_least("seed", self.seed, 0)
        _check(self.device in DEVICES,
               f"device must be one of {', '.join(DEVICES)}, got {self.device!r}")
        _check(isinstance(self.val_fraction, (int, float)) and 0 <= self.val_fraction < 0.5,
               f"val_fraction must be in [0, 0.5), got {self.val_fraction!r}")
        self.val_fraction = float(self.val_fraction)
        _check(self.tokenizer in TOKENIZERS,
               f"tokenizer must be one of {', '.join(TOKENIZERS)}, got {self.tokenizer!r}")
        _int_at_least("min_freq", self.min_freq, 0)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        return _from_dict(cls, d)
