"""Take your work home: the Compare page's zip of a workspace (checkpoints, metrics, README)."""
import io
import zipfile

import pandas as pd
import pytest
import torch

from conftest import open_page
from playground import corpora, runner
from playground.checkpoint import load_checkpoint, read_checkpoint
from playground.config import ModelConfig, TrainConfig
from playground.export import folder_name, workspace_zip

TEXT = corpora.load("brackets", 20_000)


@pytest.fixture
def two_runs():
    owner = "export-Zq3xY8pLmN0aBcDe"
    runs = [runner.REGISTRY.create(ModelConfig(cell=cell, hidden_size=8, embedding_dim=4), TrainConfig(seq_len=8, batch_size=4),
                                   TEXT, owner, label=label, corpus_key="brackets")
            for cell, label in (("GRU", "#1 GRU h8 · Nested brackets"), ("LSTM", "#2 ../../etc/passwd"))]
    for run, steps in zip(runs, (12, 7)):
        run.start(steps)
        assert run.join(60)
    yield owner, runs
    for run in runs:
        runner.REGISTRY.remove(run.run_id)


def test_the_zip_holds_every_runs_checkpoint_metrics_and_a_readme(two_runs):
    _, runs = two_runs
    z = zipfile.ZipFile(io.BytesIO(workspace_zip(runs)))
    first, second = folder_name(1, runs[0].label), folder_name(2, runs[1].label)
    assert second == "02-2-etc-passwd" and "/" not in first[3:]
    assert sorted(z.namelist()) == sorted(["README.txt", f"{first}/checkpoint.pt", f"{first}/metrics.csv",
                                           f"{second}/checkpoint.pt", f"{second}/metrics.csv"])
    for folder, run, steps in ((first, runs[0], 12), (second, runs[1], 7)):
        metrics = pd.read_csv(io.BytesIO(z.read(f"{folder}/metrics.csv")))
        assert metrics["step"].tolist() == list(range(1, steps + 1))
        assert metrics["loss"].tolist() == pytest.approx(run.snapshot().history["loss"].tolist())
        model, vocab, cfg = load_checkpoint(z.read(f"{folder}/checkpoint.pt"))   # what the Train page loads
        ours, _, _ = run.copy_model()
        assert cfg.cell == run.model_config.cell and len(vocab) == len(ours.state_dict()["head.bias"])
        assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), ours.state_dict().values()))
        assert len(read_checkpoint(z.read(f"{folder}/checkpoint.pt"))["history"]) == steps
    readme = z.read("README.txt").decode()
    assert "2 run(s)" in readme and "#1 GRU h8 · Nested brackets" in readme and "12 steps" in readme
    assert "Resume from a checkpoint" in readme


def test_the_compare_page_offers_the_zip(two_runs):
    owner, _ = two_runs
    at = open_page("pages/6_Compare.py", query={"w": owner})
    assert not at.exception
    buttons = [b for b in at.get("download_button") if "Download all my runs" in b.proto.label]
    assert len(buttons) == 1
