"""Bad input never crashes: hypothesis drives every CLI command (the click tree, walked) with
random arguments, options, actors and files. The exit status is always 0, 1 or 2, there is never
a traceback, and a refused command leaves the database exactly as it was.

WORKFLOW_FUZZ_EXAMPLES sets the number of invocations on SQLite (default 300; a third of it on
PostgreSQL)."""

from __future__ import annotations

import os
import shutil
from datetime import date
from pathlib import Path

import click
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.cli_tree import CALENDAR_FILE, leaf_commands
from tests.conftest import BACKENDS, PG_URL, _fresh_pg_database, make_app
from tests.helpers import permit, project, setup_departments
from workflow.cli import cli

EXAMPLES = int(os.environ.get("WORKFLOW_FUZZ_EXAMPLES", "300"))
COMMANDS = list(leaf_commands())
ACTORS = ["admin", "clerk.eeb", "clerk.drc", "office", "reader", "nobody", None]
WORDS = ["P1", "P2", "P1/eia", "P2/energy", "P1/energy", "P9/eia", "P1/", "/eia", "eia",
         "energy", "approval", "accept", "suspend", "resume", "extend", "approve", "reject",
         "withdraw", "prepare", "draft", "accepted", "red", "green", "eeb", "drc", "admin",
         "2026-11-20", "2026-02-30", "2027-01-01", "1999-12-31", "9999-12-31", "0", "-1", "1",
         "10", "99999999999999999999", "1e400", "nan", "", " ", "x" * 500,
         "<script>alert(1)</script>", "'; DROP TABLE permit; --", "项目一", "=1+1",
         "--help", "-", "\t", "a\nb"]
FILES = {
    "empty.yaml": b"",
    "calendar.yaml": CALENDAR_FILE.encode(),
    "bad-year.yaml": b"name: x\nyears:\n  2030:\n    holidays:\n      2031-01-01: wrong year\n",
    "not-yaml.yaml": b"years: [unclosed\n  - :\n",
    "list.yaml": b"- 1\n- 2\n",
    "gbk.csv": "项目代码,名称\n2026-01,环评\n".encode("gbk"),
    "binary.bin": bytes(range(256)) * 40,
    "big.yaml": b"# padding\n" * 200_000 + CALENDAR_FILE.encode(),
}


def seed(app) -> None:
    from workflow.setup import init

    init(app)
    setup_departments(app)
    project(app, "P1")
    project(app, "P2")
    permit(app, "P1", "eia", ("accept", date(2026, 9, 24)))
    permit(app, "P2", "energy")
    permit(app, "P1", "approval", ("accept", date(2026, 10, 8)),
           ("suspend", date(2026, 10, 9), {"reason": "补正"}))
    app.db.dispose()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> Path:
    """A folder with input files and a seeded SQLite ledger to copy."""
    folder = tmp_path_factory.mktemp("fuzz")
    seed(make_app(f"sqlite:///{folder / 'seed.db'}", today=date(2026, 11, 20)))
    for name, data in FILES.items():
        (folder / name).write_bytes(data)
    (folder / "a-directory").mkdir()
    return folder


@pytest.fixture(params=BACKENDS)
def ledger_url(request, seeded, tmp_path):
    """A seeded ledger: a copy of the SQLite seed, or a freshly seeded PostgreSQL database."""
    if request.param == "sqlite":
        shutil.copy(seeded / "seed.db", tmp_path / "fuzz.db")
        yield f"sqlite:///{tmp_path / 'fuzz.db'}"
    else:
        url, drop = _fresh_pg_database(PG_URL)
        seed(make_app(url, today=date(2026, 11, 20)))
        yield url
        drop()


def fingerprint(url: str) -> list:
    """Every row of every table (the calendar table by an aggregate: 22k rows)."""
    engine = sa.create_engine(url)
    out = []
    with engine.connect() as conn:
        for table in sorted(sa.inspect(conn).get_table_names()):
            if table == "calendar_day":
                query = ("SELECT count(*), sum(ordinal * day),"
                         " sum(CASE WHEN is_workday THEN day END),"
                         " sum(CASE WHEN covered THEN day END) FROM")
                out.append((table, conn.exec_driver_sql(f"{query} calendar_day").all()))
            else:
                rows = conn.exec_driver_sql(f'SELECT * FROM "{table}"').all()
                out.append((table, sorted(map(repr, rows))))
    engine.dispose()
    return out


def value_for(param: click.Parameter, folder: Path):
    t = param.type
    words = st.sampled_from(WORDS) | st.text(max_size=20)
    if isinstance(t, click.Choice):
        return st.sampled_from(list(t.choices)) | words
    if isinstance(t, click.Path):
        names = [*FILES, "a-directory", "missing.yaml", "seed.db", "out/x.db", "new-backup.db"]
        return st.sampled_from([str(folder / n) for n in names]) | words
    if t in (click.INT, click.FLOAT):
        return st.integers(-(10**20), 10**20).map(str) | words
    if t.name == "YYYY-MM-DD":
        return st.dates().map(date.isoformat) | words
    return words


@st.composite
def invocations(draw, folder: Path):
    path, cmd = draw(st.sampled_from(COMMANDS))
    argv = list(path)
    for p in cmd.params:
        if isinstance(p, click.Argument):
            if p.required or draw(st.booleans()):
                argv.append(draw(value_for(p, folder)))
        elif draw(st.integers(0, 2)) == 0:  # each option: given one time in three
            if p.is_flag:
                argv.append(p.opts[0])
            else:
                argv += [p.opts[-1], draw(value_for(p, folder))]
    if draw(st.integers(0, 9)) == 0:  # now and then, one token too many
        argv.append(draw(st.sampled_from(WORDS)))
    actor = draw(st.sampled_from(ACTORS))
    today = draw(st.sampled_from(["2026-11-20", "2027-03-01", "2026-13-01", "x"]))
    return argv, actor, today


@pytest.mark.slow
def test_random_input_never_crashes_and_refusals_change_nothing(seeded, ledger_url, tmp_path,
                                                                monkeypatch):
    url = ledger_url
    examples = EXAMPLES if url.startswith("sqlite") else max(EXAMPLES // 3, 1)
    monkeypatch.chdir(tmp_path)  # relative paths (backup targets) land in tmp_path
    runner = CliRunner()
    env = {"WORKFLOW_DB": None, "WORKFLOW_ACTOR": None, "WORKFLOW_TODAY": None,
           "WORKFLOW_POLICIES": None}
    state = {"before": fingerprint(url), "tried": 0, "by_status": {}}

    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(invocations(seeded))
    def check(invocation):
        argv, actor, today = invocation
        full = ["--db", url, "--today", today] + (["--as", actor] if actor else []) + argv
        result = runner.invoke(cli, full, env=env, catch_exceptions=True)
        state["tried"] += 1
        state["by_status"][result.exit_code] = state["by_status"].get(result.exit_code, 0) + 1
        crashed = result.exception is not None and not isinstance(result.exception, SystemExit)
        assert not crashed, (full, repr(result.exception), result.output)
        assert result.exit_code in (0, 1, 2), (full, result.output)
        assert "Traceback" not in result.output, (full, result.output)
        after = fingerprint(url)
        if result.exit_code != 0:
            assert after == state["before"], (full, "a refused command changed the database")
        state["before"] = after

    check()
    print(f"\nfuzz ({url.split(':')[0]}): {state['tried']} invocations over "
          f"{len(COMMANDS)} commands, exit statuses {dict(sorted(state['by_status'].items()))}")


def test_a_nul_in_a_file_name_is_one_line_for_every_command_that_takes_a_file(sqlite_app, tmp_path):
    """Found by the fuzzer: click's Path type stats the name, and the OS refuses a NUL with a
    ValueError that escaped as a traceback."""
    from tests.conftest import Runner

    run = Runner(sqlite_app.settings.db_url)
    tried = 0
    for path, cmd in leaf_commands():
        for p in cmd.params:
            if not isinstance(p.type, click.Path):
                continue
            value = str(tmp_path / "bad\x00name")
            argv = [*path, value] if isinstance(p, click.Argument) else [*path, p.opts[0], value]
            result = run(*argv)
            assert result.exit_code in (1, 2), (argv, result.output)
            assert len(result.output.splitlines()) == 1, (argv, result.output)
            assert result.output.startswith("Error"), (argv, result.output)
            tried += 1
    assert tried >= 8  # board, backup, restore, calendar load, ledger import/export, reports
