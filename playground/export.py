"""Take your work home: a workspace's runs as one zip (the Compare runs page's download).

    data = workspace_zip(runs)      # bytes of a zip:
        README.txt                  what is inside and how to use it
        01-<label>/checkpoint.pt    checkpoint.save_checkpoint's format: the Train page's "Resume
                                    from a checkpoint" loads it; so does checkpoint.load_checkpoint
        01-<label>/metrics.csv      one row per step: loss, perplexity, grad_norm, ..., val_loss
        ...
"""
from __future__ import annotations

import io
import re
import time
import zipfile

README = """RNN Playground: your runs
=========================

Downloaded {when} from the link you trained with. {n} run(s):

{runs}

Each folder holds one run:
  checkpoint.pt  the model's weights, its settings (ModelConfig, TrainConfig), its vocabulary
                 and its history. To go on training: open the Train page, choose the same
                 corpus, and load it under "Resume from a checkpoint". In Python:
                     from playground.checkpoint import load_checkpoint
                     model, vocab, model_config = load_checkpoint(open("checkpoint.pt", "rb").read())
  metrics.csv    one row per optimisation step: step, loss (nats/token), perplexity, grad_norm,
                 clipped, tokens, seconds, lr, epoch, val_loss and val_bits_per_char (empty where
                 not measured), annealed, val_perplexity, tokens_per_s.
"""


def folder_name(i: int, label: str) -> str:
    """"01-LSTM-h128": numbered; only letters, digits, "_" and "-" (safe on every system)."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", label).strip("-")[:60] or "run"
    return f"{i:02d}-{slug}"


def workspace_zip(runs: list, now: float | None = None) -> bytes:
    """Every run's checkpoint and metrics CSV, and a README, as zip bytes. A run whose checkpoint
    cannot be taken (e.g. its worker was lost before one was kept) gets its CSV and a line in
    the README saying why."""
    buf, lines = io.BytesIO(), []
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for i, run in enumerate(runs, 1):
            snap, folder = run.snapshot(), folder_name(i, run.label)
            z.writestr(f"{folder}/metrics.csv", snap.history.to_csv(index=False))
            try:
                z.writestr(f"{folder}/checkpoint.pt", run.checkpoint_bytes())
                note = ""
            except ValueError as e:
                note = f" (no checkpoint: {e})"
            lines.append(f"  {folder}/  {run.label}: {snap.model_config.cell} hidden_size "
                         f"{snap.model_config.hidden_size}, {snap.step:,} steps, {snap.status}{note}")
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(now))
        z.writestr("README.txt", README.format(when=when, n=len(runs), runs="\n".join(lines) or "  (none)"))
    return buf.getvalue()
