"""The Room's logic: anonymity, flags, leaderboard and summary numbers, curves, export, the
adapter from the live registry, the figures, and the broadcast board. Plain pytest."""
from __future__ import annotations

import csv
import io
import math
import time

import pytest

from playground import broadcast, room
from playground.config import ModelConfig, TrainConfig
from playground.figures import room as room_figures


def make(cell="LSTM", ppl=3.0, step=1000, status="finished", corpus="brackets", learner="learner 1",
         uniform=40.0, unigram=8.0, tokenizer="char", curve=None, **kw) -> room.RoomRun:
    return room.RoomRun(workspace=kw.pop("workspace", learner), learner=learner, run_id=kw.pop("run_id", f"{learner}-{cell}-{ppl}"),
                        label=f"#1 {cell}", cell=cell, hidden_size=kw.pop("hidden_size", 128), num_layers=1,
                        embedding_dim=32, corpus=corpus, status=status, step=step, target_step=1000,
                        val_perplexity=ppl, val_bits_per_char=kw.pop("bpc", math.log2(ppl) if ppl == ppl else ppl),
                        tokens_per_s=1000.0, uniform_perplexity=uniform, unigram_perplexity=unigram,
                        curve=curve if curve is not None else [(50, 2.0), (100, math.log(ppl) if ppl == ppl and ppl > 0 else 1.0)],
                        tokenizer=tokenizer, **kw)


# ---- anonymity --------------------------------------------------------------------------------

def test_learners_are_numbered_by_first_seen_order_and_stay_numbered():
    n = room.LearnerNumbers()
    assert [n.name("b"), n.name("a"), n.name("b"), n.name("c")] == ["learner 1", "learner 2", "learner 1", "learner 3"]
    assert n.name("a", "  Ada\nLovelace\x07 ") == "Ada Lovelace"   # a display name, cleaned, keeps the number
    assert n.name("d") == "learner 4"


def test_display_names_are_one_printable_line_and_short():
    assert room.clean_display_name("x" * 100) == "x" * room.MAX_NAME
    assert room.clean_display_name("\t\n ") == ""


def test_workspace_hash_hides_the_token():
    token = "abcdefghijklmnopqrstuvwx"
    h = room.workspace_hash(token)
    assert h == room.workspace_hash(token) and token not in h and len(h) == 12


# ---- flags ------------------------------------------------------------------------------------

def test_flags_diverged_stuck_waiting_not_started_worse():
    assert room.DIVERGED in room.flags(make(status="diverged", ppl=float("nan")))
    assert room.DIVERGED in room.flags(make(status="running", ppl=float("inf")))
    assert room.flags(make(ppl=8.1, unigram=8.0, step=500, status="running")) == [room.STUCK]
    assert room.flags(make(ppl=8.1, unigram=8.0, step=100, status="running")) == []     # too early to say
    assert room.flags(make(ppl=7.0, unigram=8.0, step=5000)) == []                      # 12 % better: learning
    assert room.flags(make(ppl=7.9, unigram=8.0, step=5000)) == [room.STUCK]            # within 3 %
    assert room.flags(make(status="queued", ppl=float("nan"), step=0)) == [room.WAITING]
    assert room.flags(make(status="ready", ppl=float("nan"), step=0)) == [room.NOT_STARTED]
    assert room.flags(make(status="ready", ppl=3.0, step=10)) == []                     # trained, then idle
    assert room.flags(make(ppl=50.0, uniform=40.0)) == [room.WORSE]
    assert room.flags(make(status="error", ppl=float("nan"))) == [room.FAILED]


# ---- the lesson -------------------------------------------------------------------------------

def _class() -> list[room.RoomRun]:
    runs = [make("RNN_TANH", p, learner=f"r{i}") for i, p in enumerate([6.0, 6.1, 7.0])]
    runs += [make("GRU", p, learner=f"g{i}") for i, p in enumerate([3.3, 3.4, 3.5, 3.6])]
    runs += [make("LSTM", p, learner=f"l{i}") for i, p in enumerate([3.2, 3.3])]
    runs += [make("LSTM", 1.5, learner="other", corpus="arithmetic"),
             make("LSTM", 1.1, learner="own", corpus=room.OWN_TEXT),                     # never ranked
             make("GRU", float("nan"), learner="d", status="diverged"),
             make("GRU", 2.0, learner="early", step=50)]
    return runs


def test_summary_gives_the_median_per_cell_and_the_counts_per_corpus():
    s = room.summary(_class(), min_steps=100)
    assert s["brackets"] == "median perplexity by cell: RNN (tanh) 6.1, LSTM 3.25, GRU 3.45 (n = 3, 2, 4)"
    assert s["arithmetic"] == "median perplexity by cell: LSTM 1.5 (n = 1)"
    assert room.OWN_TEXT not in s
    assert room.summary(_class())["brackets"].endswith("(n = 3, 2, 5)")                   # the early run counts now


def test_leaderboard_ranks_by_perplexity_within_each_corpus():
    boards = room.leaderboard(_class(), min_steps=100)
    assert set(boards) == {"brackets", "arithmetic"}
    b = boards["brackets"]
    assert b["val perplexity"].tolist() == [3.2, 3.3, 3.3, 3.4, 3.5, 3.6, 6.0, 6.1, 7.0]
    assert b["rank"].tolist() == list(range(1, 10))
    assert b.iloc[0]["learner"] == "l0" and b.iloc[0]["cell"] == "LSTM"
    assert b.iloc[0]["val bits/char"] == pytest.approx(math.log2(3.2))
    assert len(room.leaderboard(_class(), min_steps=100, top=3)["brackets"]) == 3


def test_word_runs_are_not_ranked_with_char_runs():
    runs = [make("LSTM", 3.0, learner="a"), make("LSTM", 90.0, learner="b", tokenizer="word")]
    assert set(room.leaderboard(runs)) == {"brackets", "brackets · word"}


# ---- curves, table, export --------------------------------------------------------------------

def test_downsample_keeps_ends_and_at_most_n_points():
    points = [(i, float(i)) for i in range(1, 1001)]
    d = room.downsample(points, 100)
    assert len(d) == 100 and d[0] == points[0] and d[-1] == points[-1]
    assert [s for s, _ in d] == sorted(s for s, _ in d)
    assert room.downsample(points[:5], 100) == points[:5]


def test_glance_table_has_one_row_per_run_with_flags_in_words():
    df = room.glance_table([make(status="diverged", ppl=float("nan")), make()], now=time.time())
    assert len(df) == 2 and list(df.columns) == room.GLANCE_COLUMNS
    assert df.iloc[0]["flags"] == room.DIVERGED and df.iloc[1]["flags"] == ""


def test_csv_export_has_every_run_with_figures_and_configs():
    runs = [make(config={"cell": "LSTM", "lr": 0.003}), make("GRU", 4.0, learner="b", config={"cell": "GRU", "lr": 0.01})]
    rows = list(csv.DictReader(io.StringIO(room.room_csv(runs))))
    assert len(rows) == 2
    assert float(rows[1]["val_perplexity"]) == 4.0 and rows[1]["config_lr"] == "0.01"
    assert rows[0]["learner"] == "learner 1" and "run_id" not in rows[0]
    assert room.room_csv([]).startswith("learner,workspace")


# ---- the adapter from the live registry -------------------------------------------------------

def test_room_runs_from_the_live_registry(own_registry):
    text = "hello world " * 200
    mc, tc = ModelConfig(cell="GRU", hidden_size=16, embedding_dim=8), TrainConfig(seq_len=8, batch_size=4)
    a = own_registry.create(mc, tc, text, owner="A" * 22, label="#1 GRU", corpus_key="hello")
    own_registry.create(ModelConfig(cell="LSTM", hidden_size=8), tc, text, owner="B" * 22, corpus_key="hello")
    a.start(3)
    assert a.join(60)
    numbers = room.LearnerNumbers()
    runs = room.room_runs_from_registry(own_registry, numbers, seen={})
    by_cell = {r.cell: r for r in runs}
    g, l = by_cell["GRU"], by_cell["LSTM"]
    assert (g.learner, l.learner) == ("learner 1", "learner 2")
    assert g.step == 3 and g.status == "finished" and g.hidden_size == 16 and g.corpus == "hello"
    assert g.val_perplexity == pytest.approx(math.exp(a.snapshot().history["val_loss"].dropna().iloc[-1]))
    assert [s for s, _ in g.curve] == [1, 3] and g.tokens_per_s > 0
    assert room.NOT_STARTED in room.flags(l)
    assert all("A" * 22 not in str(v) for v in vars(g).values())          # the token never leaves
    assert room.snapshot_of(own_registry, a.run_id).step == 3


# ---- figures ----------------------------------------------------------------------------------

def test_overlay_draws_one_trace_per_cell_with_gaps_and_baselines():
    runs = [make("GRU", 3.0 + i / 100, learner=f"g{i}") for i in range(200)]
    runs += [make("RNN_TANH", 6.0, learner=f"r{i}") for i in range(100)]
    t0 = time.perf_counter()
    fig = room_figures.overlay_figure(runs)
    fig.to_json()
    elapsed = time.perf_counter() - t0
    names = [t.name for t in fig.data]
    assert names == ["RNN (tanh) (100)", "GRU (200)"]
    gru = fig.data[1]
    assert len(gru.x) == 200 * 3 and sum(math.isnan(v) for v in gru.y) == 200   # 2 points + a gap per run
    ys = sorted(s.y0 for s in fig.layout.shapes)
    assert ys == pytest.approx([math.log(8.0), math.log(40.0)])
    print(f"overlay of 300 runs built and serialised in {elapsed * 1000:.0f} ms")


def test_by_cell_figure_has_every_run_as_a_point():
    fig = room_figures.by_cell_figure(_class())
    n = {t.name: len(t.y) for t in fig.data}
    assert n == {"RNN (tanh) (n = 3)": 3, "LSTM (n = 4)": 4, "GRU (n = 5)": 5}   # NaN (diverged) left out


# ---- the broadcast ----------------------------------------------------------------------------

def test_broadcast_post_latest_clear():
    board = broadcast.Board()
    assert board.latest() is None
    first = board.post("  Switch to\nGRU  ")
    assert board.latest() == first and first.text == "Switch to GRU" and first.number == 1
    assert board.post("x" * 1000).text == "x" * broadcast.MAX_CHARS
    assert board.latest().number == 2
    assert board.post("   ") is None and board.latest() is None
    board.post("again")
    board.clear()
    assert board.latest() is None
