"""A throwaway PostgreSQL cluster for tests: initdb + pg_ctl from Debian's `postgresql`
package (/usr/lib/postgresql/*/bin), in a temporary folder, on a free localhost port, trust
authentication. As root it runs as the `postgres` user (PostgreSQL refuses to run as root).

    with postgres_cluster() as base_url:        # postgresql+psycopg2://postgres@127.0.0.1:PORT
        url = create_schema(base_url, "t1")       # a fresh, empty schema: one per test
"""
from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL's bin folder (with initdb and pg_ctl), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_db_user(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd]


@contextlib.contextmanager
def postgres_cluster():
    """Start a cluster; yield its base SQLAlchemy URL; stop it and delete its files."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        raise FileNotFoundError("PostgreSQL is not installed (apt-get install -y postgresql)")
    root = Path(tempfile.mkdtemp(prefix="playground-pg-"))
    data, port = root / "data", _free_port()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    run = lambda *cmd: subprocess.run(_as_db_user([str(bin_dir / cmd[0]), *cmd[1:]]), check=True,
                                      capture_output=True, text=True, timeout=120)
    try:
        run("initdb", "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
        run("pg_ctl", "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "-t", "60", "start")
        try:
            yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}"
        finally:
            run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
    except subprocess.CalledProcessError as e:
        log = (root / "log").read_text() if (root / "log").exists() else ""
        raise RuntimeError(f"PostgreSQL failed: {e.cmd}: {e.stderr}\n{log[-2000:]}") from None
    finally:
        shutil.rmtree(root, ignore_errors=True)


def create_schema(base_url: str, name: str) -> str:
    """CREATE SCHEMA name in the cluster's `postgres` database; a URL whose connections use it
    (search_path), so each test starts from an empty database in milliseconds."""
    import sqlalchemy as sa
    engine = sa.create_engine(base_url + "/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
    engine.dispose()
    return f"{base_url}/postgres?options=-csearch_path%3D{name}"
