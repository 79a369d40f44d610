"""Streamlit rendering of the seed labs, one module per lab (`render(lab)`: a few settings, the
cached run of `lab.run`, its outcome). `RENDERERS` declares which module draws which lab of
`playground.labs.registry.LABS`; `header` and `show_source` are the same for every lab."""
from __future__ import annotations

from typing import Callable

from playground.labs.registry import Lab
from playground.ui.labs import (clipping, d2l_rnn, fastai_chars, hello, lstm_vs_cell, ngram,
                                perplexity, sampler_view, step_by_step, vocab_lab, warmup)
from playground.ui.labs.common import header, show_source

__all__ = ["RENDERERS", "header", "render", "renderer", "show_source"]

RENDERERS: dict[str, Callable[[Lab], None]] = {   # lab key -> the function that draws it
    "hello": hello.render,
    "fastai": fastai_chars.render,
    "lstm_cell": lstm_vs_cell.render,
    "step": step_by_step.render,
    "vocab": vocab_lab.render,
    "samplers": sampler_view.render,
    "clipping": clipping.render,
    "perplexity": perplexity.render,
    "warmup": warmup.render,
    "ngram": ngram.render,
    "d2l_rnn": d2l_rnn.render,
}


def renderer(lab: Lab) -> Callable[[Lab], None]:
    """The function that draws `lab`, as declared in `RENDERERS`."""
    try:
        return RENDERERS[lab.key]
    except KeyError:
        raise LookupError(f"lab {lab.key!r} has no renderer: write render(lab) in a module of "
                          "playground/ui/labs/ and declare it in RENDERERS in "
                          "playground/ui/labs/__init__.py") from None


def render(lab: Lab) -> None:
    renderer(lab)(lab)
