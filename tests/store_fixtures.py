"""Fixtures for the run store's tests: `store_url` is a fresh, empty database, once SQLite (a
file in tmp_path) and once PostgreSQL (marker `postgres`: a schema of a throwaway cluster that
postgres_cluster starts once per session; skipped only where PostgreSQL is not installed).
Import them into a test module: `from store_fixtures import pg_base, store_url  # noqa: F401`."""
from __future__ import annotations

import itertools

import pytest

from postgres_cluster import create_schema, postgres_bin, postgres_cluster

_schemas = itertools.count(1)


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
