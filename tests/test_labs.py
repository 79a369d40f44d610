"""Pure tests of the seed labs (playground.labs): every lab reaches the outcome it teaches."""
import math

import pytest
import torch
from torch import nn

from playground.labs import (clipping, d2l_rnn, fastai_chars, hello, lstm_vs_cell, ngram,
                             perplexity, sampler_view, step_by_step, vocab_lab, warmup)
from playground.figures import sampler as sampler_figures
from playground.labs.registry import BY_KEY, LABS, get

torch.set_num_threads(1)


# lab 1
@pytest.mark.parametrize("train", list(hello.VARIANTS.values()))
def test_hello_reaches_ohlol(train):
    results = list(train())
    assert [r.epoch for r in results] == list(range(1, len(results) + 1))
    assert results[-1].predicted == hello.TARGET
    assert results[-1].loss < results[0].loss


def test_hello_encoding_and_one_hot():
    assert hello.decode(hello.encode("hello")) == "hello"
    x = hello.one_hot_inputs("hello", batch_size=2)
    assert x.shape == (5, 2, 4)
    assert torch.equal(x.sum(dim=2), torch.ones(5, 2))
    with pytest.raises(ValueError, match="only the characters"):
        hello.encode("world")


def test_cross_entropy_takes_ids():
    r = hello.cross_entropy_targets()
    assert r["logits_shape"] == (5, 4) and r["ids_shape"] == (5,)
    assert r["loss_ids"] == pytest.approx(r["loss_by_hand"], abs=1e-6)
    assert r["loss_ids"] == pytest.approx(r["loss_probabilities"], abs=1e-6)
    assert r["long_one_hot_error"]


# lab 2
@pytest.mark.parametrize("name", list(fastai_chars.MODELS))
def test_fastai_output_shapes(name):
    model = fastai_chars.MODELS[name](vocab_size=11, n_fac=5, hidden_size=7)
    x = torch.randint(0, 11, (4, 3 if name == "Char3Model" else 8))
    out = model(x)
    expected = (4, 8, 11) if name == "CharSeqRnn" else (4, 11)
    assert out.shape == expected
    assert torch.allclose(out.exp().sum(-1), torch.ones(expected[:-1]), atol=1e-5)


def test_char3_needs_three():
    with pytest.raises(ValueError, match="exactly 3"):
        fastai_chars.Char3Model(5)(torch.zeros(2, 4, dtype=torch.long))


def test_windows_of_i_love_this_game():
    text = fastai_chars.DEMO_TEXT
    over = fastai_chars.overlapping_windows(text, 8)
    assert len(over) == len(text) - 8
    assert over[1] == (text[1:9], text[9])
    non = fastai_chars.nonoverlapping_windows(text, 4)
    assert [a for a, _ in non] == [text[i:i + 4] for i in range(0, len(text) - 4, 4)]
    assert all(b == text[i * 4 + 1:i * 4 + 5] for i, (_, b) in enumerate(non))


@pytest.mark.parametrize("identity", [False, True])
def test_fastai_models_train(identity):
    curves = fastai_chars.train_char_models(epochs=25, identity_init=identity)
    assert set(curves) == set(fastai_chars.MODELS)
    vocab_size = len(set(fastai_chars.TRAIN_TEXT))
    for name, losses in curves.items():
        assert len(losses) == 25
        assert losses[0] == pytest.approx(math.log(vocab_size), rel=0.15), name
        assert losses[-1] < 0.75 * losses[0], name


def test_identity_init_sets_weight_hh():
    model = fastai_chars.CharRnn(5, 3, 6)
    with torch.no_grad():
        fastai_chars.hidden_to_hidden(model).copy_(torch.eye(6))
    assert torch.equal(model.rnn.weight_hh_l0, torch.eye(6))
    assert fastai_chars.hidden_to_hidden(fastai_chars.CharLoopModel(5)) is not None


# lab 3
def test_lstm_equals_cell_loop():
    r = lstm_vs_cell.run()["lstm"]
    assert r["out_lstm"].shape == (2, 3, 3)
    assert r["max_diff_output"] < 1e-6 and r["max_diff_c"] < 1e-6
    assert torch.allclose(r["out_lstm"][-1], r["h_n"])


def test_embedding_is_row_lookup():
    r = lstm_vs_cell.embedding_lookup((3, 2, 1))
    weight = torch.arange(0, 20, dtype=torch.float32).view(5, 4)
    assert torch.equal(r["looked_up"], weight[[3, 2, 1]])
    assert torch.equal(r["via_one_hot"], r["looked_up"])
    with pytest.raises(ValueError):
        lstm_vs_cell.embedding_lookup((7,))


# lab 4
@pytest.mark.parametrize("cell", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_step_by_step_equal(cell, num_layers):
    r = step_by_step.step_by_step(cell, seq_len=7, batch_size=2, num_layers=num_layers)
    assert torch.allclose(r["out_whole"], r["out_steps"], atol=1e-6)
    for a, b in zip(r["state_whole"], r["state_steps"]):
        assert torch.allclose(a, b, atol=1e-6)
    assert r["max_diff_output"] < 1e-6 and r["max_diff_state"] < 1e-6


# lab 5
def test_vocab_report_min_freq_and_reserved():
    r = vocab_lab.run("a b a c a b", level="char", min_freq=2, reserved_tokens=("<pad>",))
    table = r["table"]
    assert list(table["token"][:2]) == ["<unk>", "<pad>"]
    assert r["unk_tokens"] == ["c"]
    assert not r["round_trip"] and r["unk_count"] == 1
    full = vocab_lab.run("a b a c a b", level="char", min_freq=0)
    assert full["round_trip"] and full["unk_count"] == 0
    with pytest.raises(ValueError):
        vocab_lab.run("")


# lab 6
def test_sampler_layout_matches_seed_example():
    random = sampler_view.batch_layout(30, 2, 6, "random", seed=0)
    starts = sorted(int(X[r, 0]) for X in random for r in range(X.shape[0]))
    assert starts == [0, 6, 12, 18]          # (30 - 1) // 6 = 4 non-overlapping windows
    consecutive = sampler_view.batch_layout(30, 2, 6, "consecutive")
    assert consecutive[0].tolist() == [[0, 1, 2, 3, 4, 5], [15, 16, 17, 18, 19, 20]]
    assert consecutive[1].tolist() == [[6, 7, 8, 9, 10, 11], [21, 22, 23, 24, 25, 26]]
    fig = sampler_figures.sampler_figure(30, 2, 6, "consecutive", current=0)
    assert len(fig.data) == 1 + 2          # the strip and batch 1's two rows


def test_detach_keeps_cost_flat():
    kept = sampler_view.detach_cost(False, steps=8)
    cut = sampler_view.detach_cost(True, steps=8)
    assert [r["graph_nodes"] for r in cut] == [cut[0]["graph_nodes"]] * 8
    nodes = [r["graph_nodes"] for r in kept]
    assert all(b > a for a, b in zip(nodes, nodes[1:]))
    assert kept[-1]["saved_kib"] > 4 * cut[-1]["saved_kib"]


# lab 7
def test_global_norm_matches_clip_grad_norm():
    torch.manual_seed(0)
    layer = nn.Linear(4, 3)
    layer(torch.randn(5, 4)).pow(2).sum().backward()
    by_hand = clipping.global_grad_norm(layer.parameters())
    expected = torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in layer.parameters()]))
    assert by_hand == pytest.approx(float(expected), rel=1e-5)
    grads = [p.grad.clone() for p in layer.parameters()]
    theta = by_hand / 3
    assert clipping.clip_by_hand(list(layer.parameters()), theta) == pytest.approx(by_hand)
    assert clipping.global_grad_norm(layer.parameters()) == pytest.approx(theta, rel=1e-5)
    for g, p in zip(grads, layer.parameters()):
        p.grad.copy_(g)
    torch.nn.utils.clip_grad_norm_(layer.parameters(), theta)
    assert clipping.global_grad_norm(layer.parameters()) == pytest.approx(theta, rel=1e-4)


def test_clipping_bounds_norm_and_unclipped_diverges():
    runs = clipping.run(theta=1.0)
    free, clipped = runs["no clipping"], runs["clip θ = 1"]
    assert max(clipped["norm_after"]) <= 1.0 + 1e-4
    assert all(math.isfinite(v) for v in clipped["loss"])
    assert clipped["loss"][-1] < clipped["loss"][0]
    exploded = not all(math.isfinite(v) for v in free["loss"])
    assert exploded or max(free["norm_before"]) > 10 * max(clipped["norm_after"])


# lab 8
def test_perplexity_extremes():
    r = perplexity.run("abcabcabd")
    models = r["models"]
    assert models["perfect"]["perplexity"] == pytest.approx(1.0)
    assert models["uniform"]["perplexity"] == pytest.approx(r["vocab_size"], rel=1e-5)
    assert models["confidently wrong"]["perplexity"] == math.inf
    assert 1.0 < models["bigram counts"]["perplexity"] < r["vocab_size"]
    nearly = perplexity.run("abcabcabd", wrong_confidence=0.999)["models"]["confidently wrong"]
    assert math.isfinite(nearly["perplexity"]) and nearly["perplexity"] > 100 * r["vocab_size"]


# lab 9
def test_linreg_recovers_w_and_b():
    last = list(warmup.train_linreg())[-1]
    assert last.w == pytest.approx(warmup.TRUE_W, abs=0.05)
    assert last.b == pytest.approx(warmup.TRUE_B, abs=0.05)
    assert last.loss < 1e-3


def test_softmax_and_cross_entropy():
    r = warmup.softmax_example()
    assert torch.allclose(r["probs"], torch.softmax(r["logits"], dim=1))
    assert torch.allclose(r["ce_by_hand"], r["ce_torch"], atol=1e-6)


def test_activation_derivatives():
    a = warmup.activations()
    x = a["x"]
    assert torch.allclose(a["d sigmoid"], a["sigmoid"] * (1 - a["sigmoid"]), atol=1e-6)
    assert torch.allclose(a["d tanh"], 1 - a["tanh"] ** 2, atol=1e-6)
    assert torch.equal(a["d relu"], (x > 0).float())
    assert a["d sigmoid"].max() <= 0.25 + 1e-6 and a["d tanh"].max() == pytest.approx(1.0, abs=1e-3)


def test_registry():
    assert len(LABS) == 11 and len(BY_KEY) == 11
    assert get("nope") is LABS[0] and get("vocab").key == "vocab"
    for lab in LABS:
        assert lab.teaches.endswith(".") and callable(lab.run)


# lab 1: the seed's "one linear layer" and epochs
def test_rnn_cell_is_one_linear_on_h_x():
    r = hello.cell_as_one_linear()
    assert r["weight_shape"] == (4, 4 + len(hello.CHARS))
    assert r["h_cell"].shape == (len(hello.SOURCE), 4)
    assert r["max_diff"] < 1e-6
    assert r["h_cell"].abs().min() > 0           # real states, not zeros compared with zeros


def test_hello_default_epochs_are_the_seeds_15():
    assert [len(h) for h in hello.run().values()] == [15, 15, 15]


# lab 2 at the seed's scale (a few steps on a short text: the same code path)
def test_run_at_scale_small_budget():
    text = fastai_chars.TRAIN_TEXT * 4
    calls = []
    table = fastai_chars.run_at_scale(text=text, steps=3, max_val_windows=64,
                                      progress=lambda d, t, label: calls.append((d, t)))
    assert table.shape[0] == 10 and {"model", "init", "val loss", "train loss"} <= set(table)
    assert set(table["init"]) == {"default", "identity"}
    assert list(table["model"][:5]) == list(fastai_chars.MODELS)
    assert table[["val loss", "train loss"]].map(math.isfinite).all().all()
    assert calls[-1] == (30, 30) and len(calls) == 30
    vocab_size = table.attrs["vocab_size"]
    assert table["val loss"].between(0.3 * math.log(vocab_size), 2 * math.log(vocab_size)).all()
    loss = {(r["model"], r["init"]): r["val loss"] for r in table.to_dict("records")}
    lines = fastai_chars.verdict_lines(loss, "held-out loss")
    concat, loop = loss[("CharLoopConcatModel", "default")], loss[("CharLoopModel", "default")]
    assert lines[1].startswith("**Holds:**" if concat < loop else "**Does not hold:**")
    assert f"{concat:.3f}" in lines[1] and f"{loop:.3f}" in lines[1]


def test_verdicts_follow_the_numbers():
    names = list(fastai_chars.MODELS)
    loss = {(n, "default"): 2.0 - 0.1 * i for i, n in enumerate(names)}   # later models better
    loss |= {(n, "identity"): loss[(n, "default")] + (0.05 if n == "CharRnn" else -0.05)
             for n in names}
    assert [d["holds"] for d in fastai_chars.verdicts(loss)] == ["yes", "yes", "yes", "partly"]
    loss[("CharLoopConcatModel", "default")] = 5.0                        # worse than Char3
    v = [d["holds"] for d in fastai_chars.verdicts(loss)]
    assert v[:2] == ["partly", "no"]


def test_validation_scores_every_model_on_the_same_targets():
    train_ids, val_ids, chars = fastai_chars.encode_text(fastai_chars.TRAIN_TEXT * 2)
    ends = torch.tensor([10, 20])
    assert torch.equal(fastai_chars.windows_before(val_ids, ends, 3), val_ids[torch.tensor([[7, 8, 9], [17, 18, 19]])])
    gen = torch.Generator().manual_seed(0)
    X, Y = fastai_chars.sample_batch("CharSeqRnn", train_ids, 4, 8, gen)
    assert X.shape == Y.shape == (4, 8) and torch.equal(X[:, 1:], Y[:, :-1])


# lab 3: seed 002's embedding into the LSTM
def test_seed_002_fails_as_written_and_the_fixes_work():
    r = lstm_vs_cell.seed_embedding_into_lstm()
    assert "floating point" in r["weight_error"]
    assert "Expected hidden[0] size (1, 1, 3), got [1, 3, 3]" in r["state_error"]
    assert r["input"].shape == (3, 1, 4)
    assert r["input"][:, 0].tolist() == [[12, 13, 14, 15], [8, 9, 10, 11], [4, 5, 6, 7]]
    assert r["output"].shape == (3, 1, 3) and torch.equal(r["output"][-1], r["h_n"][0])


# lab 5: seed 004's layout beside ours
def test_seed_vocab_layout_first_appearance_with_unk_at_3():
    tokens = list("banana band")
    itos, unk = vocab_lab.seed_vocab_layout(tokens)
    assert itos[:4] == ["<pad>", "<bos>", "<eos>", "<unk>"] and unk == 3
    assert itos[4:] == list(dict.fromkeys(tokens))            # b, a, n, " ", d
    plain, unk0 = vocab_lab.seed_vocab_layout(tokens, min_freq=2, use_special_tokens=False)
    assert unk0 == 0 and plain == ["<unk>", "b", "a", "n"]
    ours = vocab_lab.run("banana band", level="char")["vocab"]
    assert ours.idx_to_token[4] == "a"                         # most frequent first (4 times)


def test_side_by_side_encodes_with_each_layout():
    r = vocab_lab.run()["seed"]
    enc = r["encoded"]
    itos = r["seed_itos"]
    assert [itos[i] for i in enc["seed 004"]] == [t.replace("␣", " ") for t in enc["token"]]
    assert list(r["layout"]["seed 004"][:4]) == ["<pad>", "<bos>", "<eos>", "<unk>"]


# lab 9: torch linear regression, formulas
def test_linreg_with_nn_recovers_w_and_b():
    last = list(warmup.train_linreg_nn())[-1]
    assert last.w == pytest.approx(warmup.TRUE_W, abs=0.05)
    assert last.b == pytest.approx(warmup.TRUE_B, abs=0.05)
    slow = [list(train(lr=0.003))[-1].loss for train in (warmup.train_linreg, warmup.train_linreg_nn)]
    assert slow[1] < slow[0]                  # MSELoss has no 1/2: twice the step at one lr


def test_activation_formulas_match_torch():
    check = warmup.formula_check(warmup.activations())
    assert set(check) == {"relu", "sigmoid", "tanh"} and max(check.values()) < 1e-6


# lab 10: n-gram
def test_ngram_factors_are_count_ratios():
    words = "the cat sat on the mat the cat ran".split()
    r = ngram.run("the cat sat", n=2, text=" ".join(words))
    p = list(r["factors"]["p"])
    assert p == pytest.approx([3 / 9, 2 / 3, 1 / 2])         # P(the), P(cat|the), P(sat|cat)
    assert r["probability"] == pytest.approx(3 / 9 * 2 / 3 * 1 / 2)
    exact = r["by_n"].set_index("n")["P(phrase)"][3]
    assert exact == pytest.approx(3 / 9 * 2 / 3 * 1 / 2)      # P(sat | the cat) = 1/2 too
    with pytest.raises(ValueError):
        ngram.run("", n=2, text="a b")


def test_ngram_on_the_builtin_corpus():
    r = ngram.run()
    assert r["words"] == ngram.DEFAULT_PHRASE.split() and r["corpus_words"] > 10_000
    f = r["factors"]
    assert (f["p"] == f["count of the words"] / f["count of the context (N if none)"]).all()
    assert 0 < r["probability"] < f["p"].min()


# lab 11: d2l RNN
def test_d2l_rnn_model_shapes_and_perplexity_falls():
    model = d2l_rnn.RNNModel(nn.RNN(7, 5), 7)
    out, state = model(torch.randint(0, 7, (2, 3)), None)
    assert out.shape == (3 * 2, 7) and state.shape == (1, 2, 5)
    r = d2l_rnn.train_d2l_rnn(num_chars=6_000, epochs=4, hidden_size=64)
    ppl = [h["validation perplexity"] for h in r["history"]]
    assert ppl[-1] < ppl[0] and ppl[-1] < r["vocab_size"] / 2


def test_verdicts_mark_differences_within_noise():
    names = list(fastai_chars.MODELS)
    loss = {(n, i): 2.0 for n in names for i in ("default", "identity")}
    loss[("CharLoopConcatModel", "default")] = 1.99
    line = fastai_chars.verdict_lines(loss, "x", noise=0.05)[1]
    assert line.startswith("**Holds:**") and "1.990 vs CharLoopModel 2.000 (within noise)" in line
    assert "within noise" not in fastai_chars.verdict_lines(loss, "x", noise=0.001)[1]


def test_threshold_label_sits_on_its_line_on_log_axes():
    from playground.figures.labs import curves_figure
    fig = curves_figure({"a": [1.0, 100.0]}, "step", "norm", log_y=True, hline=(5.0, "θ = 5"))
    assert fig.layout.shapes[0].y0 == 5.0
    assert fig.layout.annotations[0].y == pytest.approx(math.log10(5.0))   # plotly's log units
