"""Trainer: builds the vocab, the train/validation split, the model and its optimizer, and
runs one optimisation step at a time. Knows nothing of Streamlit or of a cell type.

One step, for a minibatch X, Y of shape (B, T):
    logits, state = model(X, state)                    # (B, T, V)
    loss = mean_t,b  -log softmax(logits)[Y]            # cross-entropy, nats per token
    perplexity = exp(loss)                              # 1 = perfect, |V| = uniform guessing
    g = sqrt(sum_p ||grad p||^2)                        # global gradient norm, before clipping
    if clip and g > clip: grad *= clip / g              # torch.nn.utils.clip_grad_norm_

At an evaluation, validation loss L (nats per token) also gives
    bits per character = sum of nats over the scored tokens / (ln 2 * characters they stand for)
which compares models across tokenizers (a word token stands for several characters; see
vocab.token_char_counts: word_ws counts one space per word, one "\n" per <eos>). With
anneal_factor k > 1 (word_language_model divides by 4): if L >= the best L so far,
lr /= k from the next step on, and the row is marked annealed.
"""
from __future__ import annotations

import math
import random
import threading
import time
from collections import defaultdict
from dataclasses import asdict, replace
from typing import Callable

import pandas as pd
import torch
import torch.nn.functional as F

from .config import ModelConfig, TrainConfig, check_lr
from .front import HistoryRow, StepMetrics, history_frame   # StepMetrics: Trainer.step() returns it
from .models import CharModel, detach_state
from .encoded import encode
from .sampling import consecutive_batches, random_batches
from .vocab import Vocab, detokenize

# Model initialisation draws from torch's global RNG; serialise it so concurrent runs
# with the same seed get the same weights.
_INIT_LOCK = threading.Lock()
GOOD_COPY_EVERY = 20      # steps between copies of the last known-good weights
MAX_VAL_TOKENS = 20_000   # validation loss is measured on at most this many held-out tokens

BIDIRECTIONAL_MESSAGE = (
    "A bidirectional layer also reads the text backwards, so at step t it has already seen "
    "token t+1 — the very token it is asked to predict. Its loss would fall to almost zero by "
    "copying, and it could not generate text. Turn bidirectional off to train a next-token "
    "model; the Shapes and Hidden-state pages still show bidirectional layers.")


class TrainingDiverged(RuntimeError):
    """The loss or gradient became NaN/inf; the message says what happened and what to try."""


def diverged_message(step: int, what: str, kept: int, lr: float, clip: float) -> str:
    return (f"Training diverged at step {step}: the {what} is not a finite number "
            f"(exploding gradients). The run stopped; the weights from step {kept} are kept. "
            f"Try a lower learning rate (now {lr:g}), turn on gradient clipping "
            f"(clip = 1.0; now {clip:g}), or use LSTM/GRU instead of a relu RNN.")


def resolve_device(name: str) -> torch.device:
    """torch.device for "cpu" | "cuda" | "mps", with a clear error if it is not present."""
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was chosen but no CUDA GPU is available on this server")
    if name == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise ValueError("device 'mps' was chosen but Apple's MPS is not available on this server")
    return torch.device(name)


def available_devices() -> list[str]:
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices.append("cuda")
    if hasattr(torch.backends, "mps") and torch.backends.mps.is_available():
        devices.append("mps")
    return devices


def unigram_perplexity(ids: torch.Tensor, vocab_size: int) -> float:
    """exp(entropy) of the token frequencies: the best a model that ignores context can do."""
    p = torch.bincount(ids, minlength=vocab_size).double()
    p = p[p > 0] / p.sum()
    return float(torch.exp(-(p * p.log()).sum()))


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def with_vocab_size(cfg: ModelConfig, n: int) -> ModelConfig:
    """`cfg` with vocab_size n (ValueError if it asked for another size)."""
    if cfg.vocab_size and cfg.vocab_size != n:
        raise ValueError(f"vocab_size is {cfg.vocab_size} but the vocab built from the text has {n} tokens")
    return ModelConfig.from_dict({**cfg.to_dict(), "vocab_size": n})


def split_text(text: str, tc: TrainConfig, vocab: Vocab | None = None):
    """(encoded text, training ids, validation ids, characters per validation token): the
    text's tokens (one shared copy, encoded.py), the last val_fraction held out, as views.
    ValueError if too short for one batch."""
    enc = encode(text, tc.tokenizer, tc.min_freq, vocab)
    n_val = int(len(enc) * tc.val_fraction)
    train_ids, val_ids = enc.ids[: len(enc) - n_val], enc.ids[len(enc) - n_val:]     # views, no copy
    need = tc.batch_size * (tc.seq_len + 1)
    if len(train_ids) < need:
        raise ValueError(f"the training text has {len(train_ids):,} tokens but batch_size × (seq_len + 1) "
                         f"needs {need:,}: lower batch_size or seq_len, or use a longer text")
    return enc, train_ids, val_ids, enc.chars(len(enc) - n_val)


def resumed_lr(tc: TrainConfig, rows: list[HistoryRow]) -> float:
    """The config's lr; when annealing, a resumed run goes on at the lr it had reached."""
    if not (tc.anneals and rows and rows[-1].lr > 0):
        return tc.lr
    return rows[-1].lr / (tc.anneal_factor if rows[-1].annealed else 1.0)


def epoch_batches(ids: torch.Tensor, tc: TrainConfig, epoch: int):
    """The batches of one pass over `ids`: random windows, or consecutive rows from an offset
    drawn per epoch (so windows do not always start at the same tokens)."""
    if tc.sampler == "random":
        return random_batches(ids, tc.batch_size, tc.seq_len, seed=tc.seed + epoch)
    offset = random.Random(tc.seed + epoch).randrange(tc.seq_len)
    if len(ids) - offset < tc.batch_size * (tc.seq_len + 1):
        offset = 0
    return consecutive_batches(ids, tc.batch_size, tc.seq_len, offset=offset)


@torch.no_grad()
def validation_sums(model, ids: torch.Tensor, chars: torch.Tensor, rows: int, seq_len: int) -> tuple[float, int, int]:
    """(summed cross-entropy, tokens scored, characters they stand for) over `ids` read as
    `rows` consecutive streams of windows of seq_len, the state carried."""
    total, count, n_chars, state = 0.0, 0, 0, None
    for (X, Y), (_, Y_chars) in zip(consecutive_batches(ids, rows, seq_len),
                                    consecutive_batches(chars, rows, seq_len)):   # (rows, T) each
        logits, state = model(X, state)                                          # (rows, T, V)
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), Y.reshape(-1), reduction="sum").item()
        count += Y.numel()
        n_chars += int(Y_chars.sum())
    return total, count, n_chars


class Trainer:
    """Callbacks (minGPT's trainer): `add_callback("on_step_end", fn)`; fn(trainer, metrics)
    runs after every step, in the order added (a run's validation and sample cadence, an
    observer). An exception in one ends the step as the step's own would."""

    def __init__(self, model_config: ModelConfig, train_config: TrainConfig, text: str,
                 vocab: Vocab | None = None, state_dict: dict | None = None,
                 history: list[dict | HistoryRow] | None = None):
        """`vocab`, `state_dict` and `history` resume a checkpointed run."""
        if model_config.bidirectional:
            raise ValueError(BIDIRECTIONAL_MESSAGE)
        if not text:
            raise ValueError("the training text is empty")
        self.train_config = tc = train_config
        self.device = resolve_device(tc.device)
        self.corpus, self.train_ids, self.val_ids, self.val_chars = split_text(text, tc, vocab)
        self.vocab = self.corpus.vocab         # the corpus (ids in the smallest dtype) is shared
        self.model_config = with_vocab_size(model_config, len(self.vocab))
        with _INIT_LOCK:
            torch.manual_seed(tc.seed)
            self.model = CharModel(self.model_config)
        if state_dict is not None:
            self.model.load_state_dict(state_dict)
        self.model.to(self.device)
        self._rows = [r if isinstance(r, HistoryRow) else HistoryRow.from_dict(r) for r in history or []]
        self._best_val = min((r.val_loss for r in self._rows if _finite(r.val_loss)), default=None)
        self.base_lr = tc.lr  # the lr asked for (config or set_lr); annealing divides the optimizer's
        self.optimizer = self._make_optimizer(resumed_lr(tc, self._rows))
        self.uniform_perplexity = float(len(self.vocab))
        self.unigram_perplexity = unigram_perplexity(self.train_ids, len(self.vocab))
        self._train_ids_dev = self.train_ids.to(self.device)
        self._state, self._epoch = None, 0
        self._batches = self._new_epoch()
        self._good = (0, self._copy_weights())
        self._callbacks: dict[str, list[Callable]] = defaultdict(list)

    def add_callback(self, event: str, fn: Callable[["Trainer", StepMetrics], None]) -> None:
        """Call fn(trainer, metrics) at `event` ("on_step_end": after each step)."""
        self._callbacks[event].append(fn)

    def _fire(self, event: str, m: StepMetrics) -> None:
        for fn in self._callbacks.get(event, ()):
            fn(self, m)

    def _make_optimizer(self, lr: float) -> torch.optim.Optimizer:
        make = {"sgd": torch.optim.SGD, "adamw": torch.optim.AdamW}.get(self.train_config.optimizer, torch.optim.Adam)
        return make(self.model.parameters(), lr=lr)

    def _new_epoch(self):
        """A fresh batch iterator; the hidden state is reset at every epoch start."""
        self._state = None                 # _Counted: the batches taken are the sampler's position
        return _Counted(epoch_batches(self._train_ids_dev, self.train_config, self._epoch))

    def _next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        for _ in range(2):
            try:
                return next(self._batches)
            except StopIteration:
                self._epoch += 1
                self._batches = self._new_epoch()
        raise RuntimeError("the sampler produced no batch")  # guarded by the length check above

    @property
    def steps_done(self) -> int:
        return len(self._rows)

    @property
    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    def set_lr(self, lr: float) -> None:
        """Change lr from the next step on (ValueError outside (0, MAX_LR]); annealing, if on,
        divides from this value. `base_lr` remembers it: compare a control with base_lr, not lr."""
        self.base_lr = check_lr(lr)
        self._set_lr(self.base_lr)

    def _set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = float(lr)

    def step(self) -> StepMetrics:
        """One optimisation step, then the on_step_end callbacks. Raises TrainingDiverged
        (weights kept from before) on NaN/inf."""
        tc, t0 = self.train_config, time.perf_counter()
        X, Y = self._next_batch()                                     # (B, T), (B, T)
        state = None if tc.sampler == "random" else self._state
        self.model.train()
        logits, state = self.model(X, state)                          # (B, T, V)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), Y.reshape(-1))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        params = [p for p in self.model.parameters() if p.grad is not None]
        if tc.clip > 0:
            norm = torch.nn.utils.clip_grad_norm_(params, tc.clip)
        else:
            norm = torch.nn.utils.get_total_norm([p.grad for p in params])
        loss_value, norm_value = loss.item(), norm.item()
        if not (math.isfinite(loss_value) and math.isfinite(norm_value)):
            self._diverged(loss_value, norm_value)
        self.optimizer.step()
        self._state = detach_state(state)
        m = StepMetrics(step=self.steps_done + 1, loss=loss_value, perplexity=math.exp(min(loss_value, 700)),
                        grad_norm=norm_value, clipped=bool(tc.clip > 0 and norm_value > tc.clip),
                        tokens=X.numel(), seconds=time.perf_counter() - t0, lr=self.lr, epoch=self._epoch)
        self._rows.append(HistoryRow(**asdict(m)))
        if m.step % GOOD_COPY_EVERY == 0:
            self._good = (m.step, self._copy_weights())
        self._fire("on_step_end", m)
        return m

    def train_steps(self, n: int) -> list[StepMetrics]:
        return [self.step() for _ in range(n)]

    def _copy_weights(self) -> dict:
        return {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def _diverged(self, loss: float, norm: float) -> None:
        """Keep finite weights (restore the last good copy if they blew up) and explain."""
        step = self.steps_done + 1
        weights_ok = all(torch.isfinite(p).all() for p in self.model.parameters())
        kept = step - 1
        if not weights_ok:
            kept, good = self._good
            self.model.load_state_dict(good)
            del self._rows[kept:]
        self.optimizer = self._make_optimizer(self.lr)  # its moments may hold inf/NaN
        self.optimizer.zero_grad(set_to_none=True)
        self._state = None
        what = f"loss {loss}" if not math.isfinite(loss) else f"gradient norm {norm}"
        raise TrainingDiverged(diverged_message(step, what, kept, self.lr, self.train_config.clip))

    @torch.no_grad()
    def evaluate(self) -> float:
        """Mean cross-entropy on the held-out tail (at most MAX_VAL_TOKENS); NaN if too short.
        Recorded as val_loss (and val_bits_per_char) on the current step's history row; the
        first evaluation of a step may anneal lr (see the module docstring)."""
        tc, ids = self.train_config, self.val_ids[:MAX_VAL_TOKENS].to(self.device)
        rows = max(1, min(tc.batch_size, (len(ids) - 1) // tc.seq_len))
        self.model.eval()
        total, count, chars = validation_sums(self.model, ids, self.val_chars[:MAX_VAL_TOKENS], rows, tc.seq_len)
        self.model.train()
        value = total / count if count else float("nan")
        if self._rows:
            row, first = self._rows[-1], self._rows[-1].val_loss is None
            row.val_loss = value
            row.val_bits_per_char = total / (math.log(2) * chars) if chars else float("nan")
            if first:
                self._anneal(value, row)
        return value

    def _anneal(self, value: float, row: HistoryRow) -> None:
        """lr /= anneal_factor when `value` does not beat the best validation loss so far."""
        if not math.isfinite(value):
            return
        if self.train_config.anneals and self._best_val is not None and value >= self._best_val:
            self._set_lr(self.lr / self.train_config.anneal_factor)
            row.annealed = True
        self._best_val = value if self._best_val is None else min(self._best_val, value)

    @property
    def history(self) -> pd.DataFrame:
        """One row per step: the HistoryRow fields (val_loss NaN where not measured),
        val_perplexity and tokens_per_s."""
        return history_frame(self._rows)

    def rows(self, start: int = 0) -> list[HistoryRow]:
        """Copies of the history rows from `start` on (cheap incremental reads for a snapshot)."""
        return [replace(r) for r in self._rows[start:]]

    def history_rows(self, start: int = 0) -> list[dict]:
        """The history rows from `start` on as plain dicts (what a checkpoint stores)."""
        return [r.to_dict() for r in self._rows[start:]]

    def val_text(self, n_tokens: int = 300) -> str:
        """A snippet of held-out text (training text if there is no validation split)."""
        ids = self.val_ids if len(self.val_ids) > 1 else self.train_ids
        return detokenize(self.vocab.to_tokens(ids[:n_tokens].tolist()), self.train_config.tokenizer)

    # ---- exact resume (playground/resume.py: trainer_state / load_trainer_state) -------------
    def position(self) -> dict:
        """Where training stands beyond weights and optimizer: base_lr and the best validation
        loss (annealing), the sampler's epoch and batches taken, the carried hidden state."""
        return {"base_lr": self.base_lr, "best_val": self._best_val, "epoch": self._epoch,
                "epoch_batches": self._batches.taken, "hidden": self._state}

    def set_position(self, history: list, base_lr: float, best_val, epoch: int, epoch_batches: int,
                     hidden) -> None:
        """Go on from a saved position (see position()) with these history rows."""
        self.base_lr, self._best_val = float(base_lr), best_val
        self._rows = [r if isinstance(r, HistoryRow) else HistoryRow.from_dict(r) for r in history]
        self._epoch = int(epoch)
        self._batches = self._new_epoch()
        for _ in range(int(epoch_batches)):
            next(self._batches)
        self._state = to_device(hidden, self.device)
        self._good = (self.steps_done, self._copy_weights())


STATE_FORMAT = "rnn-playground-trainer/1"


def warm_up() -> float:
    """Pay torch's one-time costs in this process now; the seconds it took. Its first optimizer
    imports torch._dynamo (~800 modules: 2.5 s on an idle 2-core machine, 5-8 s under load, the
    GIL held throughout) and its first step starts autograd. Paid when a process starts (the app's,
    in a background thread; a trainer pool's, before it answers), not by the first learner's Start:
    that click, and on the app's server every page's rerun meanwhile, would wait for it."""
    t0 = time.monotonic()
    Trainer(ModelConfig(hidden_size=4), TrainConfig(seq_len=4, batch_size=2), "warm up, warm up. " * 4).step()
    return time.monotonic() - t0


class _Counted:
    """An iterator that counts the items taken from it."""

    def __init__(self, it):
        self.it, self.taken = it, 0

    def __iter__(self):
        return self

    def __next__(self):
        item = next(self.it)
        self.taken += 1
        return item


def to_device(obj, device: torch.device):
    """A carried hidden state (a tensor, or LSTM's (h, c)) on `device`."""
    if isinstance(obj, (list, tuple)):
        return tuple(to_device(v, device) for v in obj)
    return obj.to(device) if isinstance(obj, torch.Tensor) else obj
