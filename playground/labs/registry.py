"""The list of labs the Labs page picks from: one entry per example of the source notes.

The one registry of labs: the page draws lab <key> with the renderer that
`playground.ui.labs.RENDERERS` declares for it (tests/test_page_labs.py fails for a lab without one)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from playground.labs import (clipping, d2l_rnn, fastai_chars, hello, lstm_vs_cell, ngram,
                             perplexity, sampler_view, step_by_step, vocab_lab, warmup)


@dataclass(frozen=True)
class Lab:
    key: str                     # URL key: /Labs?lab=<key>
    title: str
    teaches: str                 # one sentence: what it teaches
    notice: str                  # one sentence: what to look at in the outcome
    run: Callable                # the pure function the page runs (its source is shown)
    code: tuple = field(default=())  # further functions/classes whose source is worth reading

    def sources(self) -> tuple:
        return (self.run, *self.code)


LABS: list[Lab] = [
    Lab("hello", '1 · "hello" → "ohlol"',
        "The same next-character task three ways: an nn.RNNCell loop, nn.RNN over the whole "
        "sequence, and Embedding + RNN + Linear.",
        "Watch the predicted string settle on “ohlol”; the two 'l' inputs need different "
        "outputs, which only the hidden state can tell apart. Below: the cell is one "
        "nn.Linear on [h; x].",
        hello.run, (hello.train_rnncell, hello.train_rnn, hello.EmbeddingRNN,
                    hello.train_embedding, hello.cross_entropy_targets, hello.cell_as_one_linear)),
    Lab("fastai", "2 · fast.ai character models",
        "From three hand-unrolled steps to nn.RNN: the same shared-weight recurrence, "
        "rewritten five times, trained side by side on one text.",
        "The verdicts under the table are computed from the losses: which of the seed's "
        "claims (8 characters beat 3, concatenating beats adding, identity init helps) hold "
        "here — and at the seed's own scale, on real English, with the button below.",
        fastai_chars.run, (fastai_chars.Char3Model, fastai_chars.CharLoopModel,
                           fastai_chars.CharLoopConcatModel, fastai_chars.CharRnn,
                           fastai_chars.CharSeqRnn, fastai_chars.train_char_models,
                           fastai_chars.run_at_scale, fastai_chars.train_at_scale,
                           fastai_chars.validation_losses, fastai_chars.verdicts)),
    Lab("lstm_cell", "3 · nn.LSTM vs an nn.LSTMCell loop",
        "nn.LSTM is an nn.LSTMCell applied step by step with the same four weight tensors; "
        "nn.Embedding is a row lookup in its weight table, and its rows can feed an LSTM.",
        "The maximum difference is at float rounding level (below 1e-6), each embedding "
        "row equals weight[id], and the seed's Embedding → LSTM code fails as written: "
        "PyTorch's error messages and the one-line fixes are shown.",
        lstm_vs_cell.run, (lstm_vs_cell.lstm_vs_cell, lstm_vs_cell.embedding_lookup,
                           lstm_vs_cell.seed_embedding_into_lstm)),
    Lab("step", "4 · Step by step vs whole sequence",
        "Feeding one step at a time and carrying the returned state gives the same outputs "
        "and final state as one call on the whole sequence.",
        "Both differences are zero or at float rounding level (about 1e-7, from a different "
        "order of the matrix products): the state is all an RNN carries between steps.",
        step_by_step.run, (step_by_step.step_by_step,)),
    Lab("vocab", "5 · Vocabulary builder",
        "How text becomes ids: in our Vocab <unk> is id 0, reserved tokens come next, then "
        "tokens by falling frequency, and min_freq sends rare ones to <unk>; seed 004's Vocab "
        "lays the same tokens out differently.",
        "Raise min_freq and watch rare tokens turn into <unk> and the round trip break; "
        "compare our ids with seed 004's, side by side.",
        vocab_lab.run, (vocab_lab.vocab_report, vocab_lab.seed_vocab_layout)),
    Lab("samplers", "6 · Random vs consecutive sampling",
        "Random sampling shuffles windows and resets the state each batch; consecutive "
        "sampling lays the corpus out as rows and carries the (detached) state on.",
        "Without detach() the time, graph size and saved memory per step grow with every "
        "batch; with it they stay flat.",
        sampler_view.run, (sampler_view.batch_layout, sampler_view.detach_cost)),
    Lab("clipping", "7 · Gradient clipping",
        "Rescaling the gradient to a global norm of at most θ keeps a relu RNN with a high "
        "learning rate from blowing up.",
        "The unclipped run's gradient norm explodes and its loss turns to nan; the clipped "
        "one never uses a norm above θ and keeps learning.",
        clipping.run, (clipping.train_clipping, clipping.global_grad_norm, clipping.clip_by_hand)),
    Lab("perplexity", "8 · Perplexity",
        "Perplexity = exp(mean cross-entropy): 1 for a perfect model, |V| for uniform "
        "guessing, ∞ for a model sure of a wrong answer.",
        "A real model (here bigram counts) must land between 1 and |V|; one zero probability "
        "on the truth makes the whole text's perplexity infinite.",
        perplexity.run, (perplexity.perplexity_of, perplexity.wrong_probs, perplexity.bigram_probs)),
    Lab("warmup", "9 · Warm-up: regression, softmax, activations",
        "Linear regression by hand-written minibatch SGD and with nn.Linear + nn.MSELoss + "
        "optim.SGD recovers w = [2, -3.4], b = 4.2; softmax + cross-entropy by hand match "
        "PyTorch; tanh vs sigmoid vs relu, formulas and gradients.",
        "The learned w and b within a few hundredths of the truth after 5 epochs both ways; "
        "sigmoid's slope never exceeds 1/4, tanh's reaches 1, and both vanish for large |x|.",
        warmup.run, (warmup.train_linreg, warmup.sgd, warmup.train_linreg_nn,
                     warmup.softmax_example, warmup.activations, warmup.formula_check)),
    Lab("ngram", "10 · n-gram probability",
        "The probability of a word sequence is a product of conditional probabilities; an "
        "n-gram model keeps only the last n − 1 words of each condition and counts them.",
        "Each factor is a ratio of two counts from the corpus; shorter conditions (smaller n) "
        "change the product, n = number of words is the exact chain rule on these counts.",
        ngram.run, (ngram.chain_factors, ngram.ngram_counts)),
    Lab("d2l_rnn", "11 · d2l RNN model and its perplexity",
        "Seed 004's RNNModel — one-hot inputs, nn.RNN, nn.Linear — trained on consecutive "
        "minibatches with the state carried and detached, scored by perplexity.",
        "Perplexity falls far below |V| (uniform guessing) within a few epochs, on the "
        "held-out text as on the training text.",
        d2l_rnn.run, (d2l_rnn.RNNModel, d2l_rnn.epoch_perplexity, d2l_rnn.train_d2l_rnn)),
]

BY_KEY: dict[str, Lab] = {lab.key: lab for lab in LABS}


def get(key: str | None) -> Lab:
    """The lab for a URL key; the first lab for None or an unknown key."""
    return BY_KEY.get(key or "", LABS[0])
