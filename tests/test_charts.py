"""Chart builders: the numbers drawn are the history's numbers."""
import math

import numpy as np
import pandas as pd
import pytest

from playground.figures import curves as charts


def history(n=50, clip_every=5):
    steps = np.arange(1, n + 1)
    loss = 2.0 / steps + 0.5
    return pd.DataFrame({"step": steps, "loss": loss, "perplexity": np.exp(loss),
                         "grad_norm": np.linspace(0.1, 3, n), "clipped": steps % clip_every == 0,
                         "val_loss": np.where(steps % 10 == 0, loss + 0.1, np.nan),
                         "val_perplexity": np.exp(np.where(steps % 10 == 0, loss + 0.1, np.nan))})


def trace(fig, name):
    return next(t for t in fig.data if t.name == name)


@pytest.mark.parametrize("metric", ["loss", "perplexity"])
def test_curve_figure_draws_train_validation_and_baselines(metric):
    h = history()
    fig = charts.curve_figure(h, metric, uniform_perplexity=30, unigram_perplexity=12.5)
    col = "perplexity" if metric == "perplexity" else "loss"
    np.testing.assert_allclose(trace(fig, "train").y, h[col], rtol=1e-6)
    np.testing.assert_array_equal(trace(fig, "validation").x, [10, 20, 30, 40, 50])
    ys = sorted(s.y0 for s in fig.layout.shapes)
    expected = sorted([30, 12.5] if metric == "perplexity" else [math.log(30), math.log(12.5)])
    np.testing.assert_allclose(ys, expected)
    assert any("|V| = 30" in a.text for a in fig.layout.annotations)
    assert fig.layout.uirevision == "run"


def test_smoothing_is_an_ema_and_log_scale_applies():
    h = history()
    fig = charts.curve_figure(h, "loss", 30, 12, log_y=True, smoothing=0.9)
    smoothed = h["loss"].ewm(alpha=0.1, adjust=True).mean()
    np.testing.assert_allclose(trace(fig, "train").y, smoothed, rtol=1e-6)
    assert fig.layout.yaxis.type == "log"


def test_grad_norm_figure_marks_clipped_steps_and_threshold():
    h = history()
    fig = charts.grad_norm_figure(h, clip=1.0)
    np.testing.assert_array_equal(trace(fig, "clipped steps").x, h.loc[h["clipped"], "step"])
    assert fig.layout.shapes[0].y0 == 1.0
    assert len(charts.grad_norm_figure(h, clip=0).layout.shapes) == 0


@pytest.mark.parametrize("low, high, dtick", [(0.04, 1.0, "D2"), (1e-3, 10, 1), (0.4, 1.0, None)])
def test_a_log_axis_labels_few_ticks_that_do_not_overlap(low, high, dtick):
    """Gradient norms from 0.04 to 1 were labelled 0.04, 0.05 … 0.9, 1: under 1 they overlapped."""
    h = history().assign(grad_norm=np.geomspace(low, high, 50))
    assert charts.grad_norm_figure(h, clip=0).layout.yaxis.dtick == dtick
    assert charts.log_dtick([np.nan, 0.0, -1.0]) is None       # nothing a log axis can show


@pytest.mark.parametrize("log_y", [False, True])
def test_each_lines_label_is_placed_at_its_line(log_y):
    """Plotly places an annotation on a log axis at 10**y, a shape at y: the labels of the
    baselines and of the clip threshold were drawn far from their lines (at 10**4 for |V| = 4)."""
    figs = [charts.curve_figure(history(), "perplexity", 4, 2.3, log_y=log_y), charts.grad_norm_figure(history(), 0.5)]
    for fig in figs:
        on_log = fig.layout.yaxis.type == "log"
        for shape, note in zip(fig.layout.shapes, fig.layout.annotations, strict=True):
            assert note.y == pytest.approx(math.log10(shape.y0) if on_log else shape.y0), note.text


def test_long_histories_are_thinned_but_keep_the_last_step():
    h = history(n=10_000)
    fig = charts.curve_figure(h, "loss", 30, 12)
    x = trace(fig, "train").x
    assert len(x) <= charts.MAX_POINTS + 1 and x[-1] == 10_000
    assert isinstance(x, np.ndarray) and x.dtype == np.float32


def test_baselines_are_labelled_in_the_charts_own_units():
    """The issue: "letter frequencies only (2.3)" (a perplexity) was drawn at loss 0.83."""
    import math
    from playground.figures import curves
    loss = dict(curves.baselines(False, 30.0, 2.3))
    ppl = dict(curves.baselines(True, 30.0, 2.3))
    assert loss[math.log(2.3)] == f"letter frequencies only: loss {math.log(2.3):.2f}"
    assert "loss ln 30 = 3.40" in loss[math.log(30.0)] and "|V| = 30" in loss[math.log(30.0)]
    assert ppl[2.3] == "letter frequencies only: perplexity 2.30"


def test_one_diverging_colour_convention_and_lines_told_apart_by_dash():
    import numpy as np
    import pandas as pd
    from playground.figures import hidden, memory, shapes, style
    heat = hidden.heatmap_figure(np.random.default_rng(0).normal(size=(5, 4)).astype("float32"), list("abcde"),
                                 np.arange(4), "h", title="t")
    weights = shapes.weight_heatmap(np.ones((3, 2)), "w")
    assert heat.data[0].colorscale == weights.data[0].colorscale    # red = positive on both pages
    assert weights.data[0].colorscale[-1][1].lower() in ("rgb(103,0,31)", style.POSITIVE, "#67001f")
    results = pd.DataFrame({"cell": ["GRU", "LSTM"] * 2, "gap": [4, 4, 8, 8], "recall": [1.0] * 4,
                            "seed": [0] * 4, "steps": [10] * 4})
    lines = [t for t in memory.recall_figure(results).data if t.mode == "lines+markers"]
    assert len({t.line.dash for t in lines}) == 2 and len({t.marker.symbol for t in lines}) == 2


def test_the_labs_lines_are_labelled_at_them_too():
    """The labs' bar and curve figures draw their line (uniform guessing, a threshold) with the one
    helper (figures.style.hline): on a log axis the label's y is log10 of the line's."""
    from playground.figures.labs import bar_figure, curves_figure
    bars = bar_figure(["a", "b"], [3.0, 40.0], ["#111", "#222"], "perplexity", log_y=True, hline=(30, "|V| = 30"))
    curves = curves_figure({"loss": [1.0, 0.5]}, "step", "loss", hline=(0.7, "target"))
    for fig, at, label_y, label in ((bars, 30, math.log10(30), "|V| = 30"), (curves, 0.7, 0.7, "target")):
        (line,), (note,) = fig.layout.shapes, fig.layout.annotations
        assert line.y0 == at and note.text == label and note.y == pytest.approx(label_y)
