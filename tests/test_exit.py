"""The `workflow` process ends without tearing the interpreter down (cli.quick_exit): what it
printed still arrives, its exit status is the command's, and its databases are closed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ENTRY = "from workflow.cli import main; main()"


def workflow(*args: str, **kwargs) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKFLOW_")}
    return subprocess.run([sys.executable, "-c", ENTRY, *args], env=env, capture_output=True,
                          text=True, timeout=120, **kwargs)


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    assert workflow("--db", url, "init").returncode == 0
    return url


def test_output_arrives_whole_and_status_is_zero(db):
    done = workflow("--db", db, "--as", "admin", "project", "add", "P1", "--name", "Plant",
                    "--district", "Xihu", "--json")
    assert done.returncode == 0, done.stderr
    listed = workflow("--db", db, "project", "list", "--json")
    assert listed.returncode == 0
    assert '"P1"' in listed.stdout and listed.stdout.rstrip().endswith(("]", "}"))


def test_refusal_and_usage_statuses_survive(db):
    refused = workflow("--db", db, "permit", "show", "NOPE/eia")
    assert refused.returncode == 1
    assert refused.stderr.startswith("Error: ") and refused.stderr.count("\n") == 1
    usage = workflow("--db", db, "permit", "show")
    assert usage.returncode == 2
    assert workflow("--version").returncode == 0


def test_sqlite_file_is_closed_cleanly_after_a_write(db, tmp_path):
    """The last connection's close checkpoints the WAL and removes it: proof it was closed."""
    done = workflow("--db", db, "--as", "admin", "project", "add", "P2", "--name", "Mill")
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "w.db-wal").exists()


def test_a_reader_that_hangs_up_early_is_no_error(db):
    """`workflow ... | head -1`: the closed pipe ends the output quietly, no traceback."""
    r, w = os.pipe()
    os.close(r)
    try:
        done = subprocess.run([sys.executable, "-c", ENTRY, "--help"], stdout=w,
                              stderr=subprocess.PIPE, text=True, timeout=60,
                              env={k: v for k, v in os.environ.items()
                                   if not k.startswith("WORKFLOW_")})
    finally:
        os.close(w)
    assert "Traceback" not in done.stderr


def test_python_dash_m_runs_the_same_command_line(db):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKFLOW_")}
    done = subprocess.run([sys.executable, "-m", "workflow", "--db", db, "project", "list",
                           "--json"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr
