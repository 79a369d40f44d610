"""Fixtures for the run store's tests: `store_url` is a fresh, empty database, once SQLite (a
file in tmp_path) and once PostgreSQL (marker `postgres`: a schema of a throwaway cluster that
postgres_cluster starts once per session; skipped only where PostgreSQL is not installed).
Import them into a test module: `from store_fixtures import pg_base, store_url  # noqa: F401`."""
from __future__ import annotations

import itertools
import math

import pytest

from playground.store_records import RunRecord
from postgres_cluster import create_schema, postgres_bin, postgres_cluster

_schemas = itertools.count(1)
TOKEN = "tok-Zq3xY8pLmN0aBcDeFgHiJk"   # the shape of secrets.token_urlsafe(16)
DAY = 86400.0


def row(step, val_loss=None, **kw):
    return dict(dict(step=step, loss=2.0 / step, perplexity=math.exp(2.0 / step), grad_norm=0.5, clipped=step % 2 == 0,
                     tokens=512, seconds=0.01, lr=3e-3, epoch=0, val_loss=val_loss, val_bits_per_char=None,
                     annealed=False), **kw)


def run(run_id="r1", token=TOKEN, **kw):
    return RunRecord.for_token(token, run_id=run_id, model_config={"cell": "GRU", "hidden_size": 64},
                               train_config={"lr": 3e-3, "sampler": "random"}, **kw)


@pytest.fixture(scope="session")
def pg_base():
    """The base URL of a PostgreSQL cluster started for this test session."""
    if postgres_bin() is None:
        pytest.skip("PostgreSQL is not installed (/usr/lib/postgresql/*/bin/initdb): apt-get install -y postgresql")
    with postgres_cluster() as base_url:
        yield base_url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'playground.sqlite'}"
    return create_schema(request.getfixturevalue("pg_base"), f"t{next(_schemas)}")
