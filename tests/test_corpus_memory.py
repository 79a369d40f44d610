"""Corpus memory (issue 19, item 3): one encoded copy per text shared between runs, token ids in
the smallest dtype, released with the last run, counted in the per-run estimate, and training
results unchanged by the narrower ids."""
from __future__ import annotations

import gc
import weakref

import pytest
import torch

from playground import encoded
from playground.config import ModelConfig, TrainConfig
from playground.encoded import encode, id_bytes, smallest_dtype
from playground.limits import Limits, check, estimate
from playground.train import Trainer
from playground.vocab import Vocab, tokenize

TEXT = "the quick brown fox jumps over the lazy dog.\n" * 300
MC = ModelConfig(cell="LSTM", hidden_size=16, embedding_dim=8)
TC = TrainConfig(seq_len=16, batch_size=4, seed=3)


def _storage(t: torch.Tensor) -> int:
    return t.untyped_storage().data_ptr()


def test_two_trainers_on_one_text_share_one_uint8_id_tensor():
    a, b = Trainer(MC, TC, TEXT), Trainer(ModelConfig(cell="GRU", hidden_size=8), TC, TEXT)
    assert a.train_ids.dtype == torch.uint8 and a.val_ids.dtype == torch.uint8
    assert a.train_ids.data_ptr() == b.train_ids.data_ptr()
    assert _storage(a.val_ids) == _storage(a.train_ids) == _storage(b.train_ids)      # views of one copy
    assert a.corpus is b.corpus and a.vocab is b.vocab


def test_other_settings_get_their_own_copy():
    a = Trainer(MC, TC, TEXT)
    word = Trainer(MC, TrainConfig(seq_len=8, batch_size=4, tokenizer="word"), TEXT)
    assert a.corpus is not word.corpus and word.corpus.char_counts is not None


def test_the_encoded_text_is_released_with_the_last_run():
    trainer = Trainer(MC, TC, TEXT + "released")
    ref = weakref.ref(trainer.corpus)
    del trainer
    gc.collect()
    assert ref() is None


def test_ids_are_the_vocab_lookup_in_the_smallest_dtype():
    for tokenizer in ("char", "word", "word_ws"):
        enc = encode(TEXT + "é ✓ \U0001F600", tokenizer)
        want = enc.vocab[tokenize(TEXT + "é ✓ \U0001F600", tokenizer)]
        assert enc.ids.tolist() == want and enc.ids.dtype == torch.uint8
    given = Vocab(list("the "), tokenizer="char")                 # a checkpoint's vocab: unknowns -> unk
    assert encode("thex", "char", vocab=given).ids.tolist() == given[list("thex")]
    assert [smallest_dtype(v) for v in (255, 256, 32_767, 32_768, 2**31)] == \
        [torch.uint8, torch.int16, torch.int16, torch.int32, torch.int64]
    assert (id_bytes(256), id_bytes(257), id_bytes(40_000)) == (1, 2, 4)


def _losses(text: str, sampler: str) -> list[float]:
    tc = TrainConfig(seq_len=16, batch_size=4, seed=3, sampler=sampler, val_fraction=0.2)
    trainer = Trainer(MC, tc, text)
    losses = [m.loss for m in trainer.train_steps(12)]
    return losses + [trainer.evaluate()], trainer.train_ids.dtype


@pytest.mark.parametrize("sampler", ["consecutive", "random"])
def test_seeded_losses_equal_the_int64_path(monkeypatch, sampler):
    narrow, dtype = _losses(TEXT, sampler)
    monkeypatch.setattr(encoded, "_CACHE", weakref.WeakValueDictionary())          # no shared copy
    monkeypatch.setattr(encoded, "smallest_dtype", lambda max_value: torch.int64)  # the old ids
    wide, wide_dtype = _losses(TEXT, sampler)
    assert (dtype, wide_dtype) == (torch.uint8, torch.int64)
    assert narrow == pytest.approx(wide, rel=1e-6, abs=1e-7)


def test_eight_runs_hold_one_copy_of_the_ids_at_one_byte_a_token():
    """The issue's claim in small: 8 runs on one text held 8 int64 copies (8 x 8 bytes a token);
    now one shared uint8 copy (1 byte a token)."""
    text = "".join(chr(ord("a") + (i * 7919) % 26) for i in range(200_000))
    trainers = [Trainer(ModelConfig(cell="GRU", hidden_size=8, embedding_dim=4), TC, text) for _ in range(8)]
    storages = {_storage(t.train_ids): t.train_ids.untyped_storage().nbytes() for t in trainers}
    storages.update({_storage(t.val_ids): t.val_ids.untyped_storage().nbytes() for t in trainers})
    assert sum(storages.values()) == len(text)              # was 8 * 8 * len(text) bytes
    assert trainers[0].corpus.nbytes == len(text)


def test_the_estimate_counts_the_corpus_at_its_dtype():
    base = estimate(MC, TC, 100).memory_bytes
    assert estimate(MC, TC, 100, corpus_tokens=10**6).memory_bytes - base == 10**6
    assert estimate(MC, TC, 1_000, corpus_tokens=10**6).corpus_bytes == 2 * 10**6
    why = check(MC, TC, 100, 1, Limits(max_run_memory_mb=64), corpus_tokens=100 * 2**20)
    assert any("MB of token ids" in w and "above the limit of 64 MB" in w for w in why)


def test_the_registry_refuses_a_corpus_over_the_memory_limit_before_building():
    from playground.registry import RunRegistry
    from playground.scheduler import Scheduler
    reg = RunRegistry(limits=Limits(max_run_memory_mb=2), scheduler=Scheduler(1))
    with pytest.raises(ValueError, match=r"MB of token ids\), above the limit of 2 MB per run"):
        reg.create(ModelConfig(cell="GRU", hidden_size=8, embedding_dim=4), TC, "ab" * 2**20, "owner-0123456789abcdef")
    assert not reg.runs
    run = reg.create(ModelConfig(cell="GRU", hidden_size=8, embedding_dim=4), TC, TEXT, "owner-0123456789abcdef")
    assert run.trainer.train_ids.dtype == torch.uint8
