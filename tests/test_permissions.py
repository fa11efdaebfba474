"""Who may change what: every mutating command x every kind of actor, allowed or refused, and a
refusal changes nothing. The table below is also docs/permissions.md (a test keeps them equal),
and every command of the CLI is either a row of it, a read, or named as outside it (a test walks
the CLI, so a new command cannot be left out)."""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import click
import pytest
import sqlalchemy as sa

from tests.cli_tree import LEDGER_CSV, leaf_commands, minimal_argv
from tests.conftest import Runner, dump, make_app
from tests.helpers import as_actor, permit, project, setup_departments
from workflow.cli import cli

ROOT = Path(__file__).parent.parent
TODAY = date(2026, 11, 20)

# Columns: the kinds of actor. The permits, problems and notices of the ledger are of
# department eeb, so clerk.eeb is "own" and clerk.drc "other".
ACTORS = {
    "department (own)": "clerk.eeb",
    "department (other)": "clerk.drc",
    "supervisor": "office",
    "admin": "admin",
    "viewer": "reader",
    "unknown actor": "nobody",
    "no actor": None,
}


@dataclass(frozen=True)
class Cell:
    """What a row's argv needs: the template's files and ids, and this cell's own folder."""

    template: Path
    out: Path
    problems: dict[str, str]  # state -> problem reference
    notices: dict[str, str]  # which -> notice id


def _move(state: str, event: str, *extra: str) -> callable:
    return lambda c: ["permit", "advance", f"P-{state}/eia", event, "--on", "2026-11-20", *extra]


def _problem(state: str, event: str, *extra: str) -> callable:
    return lambda c: ["problem", "advance", c.problems[state], event, "--on", "2026-11-20",
                      *extra]


Y, N = "yes", "no"
# command (as documented) -> (argv of the cell, who may: one Y/N per ACTORS column).
# The lifecycle rows follow policies/lifecycle.yaml and policies/problems.yaml (`roles:`).
TABLE: dict[str, tuple] = {
    "actor add": (lambda c: ["actor", "add", "new.actor", "--role", "viewer"],
                  (N, N, N, Y, N, N, N)),
    "project add": (lambda c: ["project", "add", "ADDED", "--name", "x"], (Y, Y, Y, Y, N, N, N)),
    "permit add (eia, of eeb)": (lambda c: ["permit", "add", "NEW", "eia"],
                                 (Y, N, Y, Y, N, N, N)),
    "permit advance prepare": (_move("draft", "prepare"), (Y, N, N, Y, N, N, N)),
    "permit advance accept": (_move("draft", "accept"), (Y, N, N, Y, N, N, N)),
    "permit advance suspend": (_move("accepted", "suspend", "--reason", "r"),
                               (Y, N, N, Y, N, N, N)),
    "permit advance resume": (_move("suspended", "resume"), (Y, N, N, Y, N, N, N)),
    "permit advance extend": (_move("accepted", "extend", "--reason", "r", "--days", "2"),
                              (Y, N, N, Y, N, N, N)),
    "permit advance approve": (_move("accepted", "approve"), (Y, N, N, Y, N, N, N)),
    "permit advance reject": (_move("suspended", "reject", "--reason", "r"),
                              (Y, N, N, Y, N, N, N)),
    "permit advance withdraw": (_move("accepted", "withdraw", "--reason", "r"),
                                (Y, N, Y, Y, N, N, N)),
    "permit advance waive": (_move("draft", "waive", "--reason", "r"), (N, N, Y, Y, N, N, N)),
    "problem add (owned by eeb)": (
        lambda c: ["problem", "add", "NEW", "--category", "power", "--owner", "eeb", "--days",
                   "10", "--text", "poles"], (Y, N, Y, Y, N, N, N)),
    "problem advance coordinate": (_problem("open", "coordinate"), (Y, N, Y, Y, N, N, N)),
    "problem advance suspend": (_problem("open", "suspend", "--reason", "r"),
                                (N, N, Y, Y, N, N, N)),
    "problem advance resume": (_problem("suspended", "resume"), (N, N, Y, Y, N, N, N)),
    "problem advance extend": (_problem("open", "extend", "--reason", "r", "--days", "2"),
                               (N, N, Y, Y, N, N, N)),
    "problem advance resolve": (_problem("open", "resolve"), (Y, N, Y, Y, N, N, N)),
    "problem advance reopen": (_problem("resolved", "reopen", "--reason", "r"),
                               (N, N, Y, Y, N, N, N)),
    "problem advance close": (_problem("resolved", "close"), (N, N, Y, N, N, N, N)),
    "problem advance withdraw": (_problem("open", "withdraw", "--reason", "r"),
                                 (N, N, Y, Y, N, N, N)),
    "notice ack (to eeb)": (lambda c: ["notice", "ack", c.notices["issued"]],
                            (Y, N, N, Y, N, N, N)),
    "notice respond (to eeb)": (
        lambda c: ["notice", "respond", c.notices["acknowledged"], "--text", "done"],
        (Y, N, N, Y, N, N, N)),
    "notice ack (to a leader)": (lambda c: ["notice", "ack", c.notices["leader"]],
                                 (N, N, Y, Y, N, N, N)),
    "notice close": (lambda c: ["notice", "close", c.notices["issued"]], (N, N, Y, Y, N, N, N)),
    "notice redeliver": (lambda c: ["notice", "redeliver", c.notices["issued"]],
                         (N, N, Y, Y, N, N, N)),
    "notice deliver": (lambda c: ["notice", "deliver"], (Y, Y, Y, Y, N, N, Y)),
    "ledger import": (lambda c: ["ledger", "import", c.template / "ledger.csv"],
                      (N, N, N, Y, N, N, N)),
    "calendar load": (lambda c: ["calendar", "load", c.template / "cn-2030.yaml"],
                      (N, N, N, Y, N, N, N)),
    "sweep": (lambda c: ["sweep", "--today", "2026-11-20"], (Y, Y, Y, Y, N, N, Y)),
    "scheduler run daily": (lambda c: ["scheduler", "run", "daily"], (Y, Y, Y, Y, N, N, Y)),
    "scheduler run deliver": (lambda c: ["scheduler", "run", "deliver"], (Y, Y, Y, Y, N, N, Y)),
    "scheduler run weekly": (lambda c: ["scheduler", "run", "weekly"], (Y, Y, Y, Y, N, N, Y)),
    "rebuild": (lambda c: ["rebuild"], (N, N, N, Y, N, N, N)),
    "backup": (lambda c: ["backup", c.out / "backup.db"], (N, N, N, Y, N, N, N)),
}
# An allowed command changes the database, except these, whose effect is elsewhere.
EFFECT = {"backup": lambda c: (c.out / "backup.db").is_file()}

# Commands that only read the database (some write a file: a report, the wall chart, an export).
READS = {
    ("actor", "list"), ("audit", "verify"), ("board",), ("calendar", "check"),
    ("calendar", "due"), ("calendar", "show"), ("ledger", "export"), ("notice", "deliveries"),
    ("notice", "list"), ("notice", "show"), ("permit", "history"), ("permit", "list"),
    ("permit", "show"), ("policy", "check"), ("policy", "show"), ("problem", "history"),
    ("problem", "list"), ("problem", "show"), ("project", "list"), ("project", "show"),
    ("report", "agenda"), ("report", "completion"), ("report", "problems"),
    ("report", "summary"), ("report", "weekly"), ("scheduler", "status"), ("supervise",),
}
# Commands that write outside the actor model, each for the reason docs/permissions.md gives.
OUTSIDE = {("init",), ("restore",), ("demo",), ("scheduler", "start")}


def cli_path(command: str) -> tuple[str, ...]:
    """The CLI command a row of TABLE runs: its leading words, down to a leaf of the tree."""
    group, path = cli, []
    for word in command.split():
        sub = group.commands[word]
        path.append(word)
        if not isinstance(sub, click.Group):
            return tuple(path)
        group = sub
    raise AssertionError(f"{command!r} names no command")


# -- the ledger every cell starts from ----------------------------------------------------------

@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Cell:
    """eia permits of eeb in each state, problems of eeb in each state, notices to eeb (issued,
    acknowledged) and to a project's leader, and one stale permit row for `rebuild` to fix."""
    from workflow import notices, problems
    from workflow.setup import init
    from workflow.sweep import sweep

    folder = tmp_path_factory.mktemp("permissions")
    url = f"sqlite:///{folder / 'template.db'}"
    app = make_app(url, today=TODAY)
    init(app)
    setup_departments(app)
    project(app, "NEW")
    for state, moves in {
        "draft": (), "accepted": (("accept", date(2026, 11, 2)),),
        "suspended": (("accept", date(2026, 11, 2)),
                      ("suspend", date(2026, 11, 9), {"reason": "补正"})),
    }.items():
        project(app, f"P-{state}")
        permit(app, f"P-{state}", "eia", *moves)
    # notices: P-late is red by 11-10 (supervision, to eeb, time limit 11-17), escalated to its
    # leader by the sweep of 11-18; P-soon is yellow on 11-10 (a reminder to eeb)
    project(app, "P-late", leader="Li Ming")
    permit(app, "P-late", "eia", ("accept", date(2026, 10, 12)))
    project(app, "P-soon")
    permit(app, "P-soon", "eia", ("accept", date(2026, 10, 27)))
    office = as_actor(app, "office")
    refs = {}
    for state, move in {"open": None, "suspended": "suspend", "resolved": "resolve"}.items():
        q = problems.add(app, "NEW", category="power", owner="eeb", days=30, text=state,
                         on=date(2026, 11, 2))
        if move:
            problems.advance(office, q["ref"], move, on=date(2026, 11, 5), reason="r")
        refs[state] = q["ref"]
    system = make_app(url, actor=None)
    sweep(system, day=date(2026, 11, 10))
    sweep(system, day=date(2026, 11, 18))
    first = {}
    for n in sorted(notices.list_(app), key=lambda n: n["id"]):
        first.setdefault((n["level"], n["addressee"]), str(n["id"]))
    ids = {"issued": first[("supervision", "eeb")], "acknowledged": first[("reminder", "eeb")],
           "leader": first[("escalation", "Li Ming")]}
    clerk = as_actor(app, "clerk.eeb")
    notices.ack(clerk, ids["acknowledged"])
    # a cached field that disagrees with the log (a manual repair gone wrong)
    project(app, "STALE")
    permit(app, "STALE", "eia")
    with app.db.connect(write=True) as conn:
        conn.execute(sa.text("UPDATE permit SET due_on = 1 WHERE project_id = "
                             "(SELECT id FROM project WHERE code = 'STALE')"))
    for a in (app, office, clerk, system):
        a.db.dispose()
    conn = sqlite3.connect(folder / "template.db")  # copies take the main file only
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    (folder / "cn-2030.yaml").write_text(
        "name: cn-mainland\nyears:\n  2030:\n    holidays:\n      2030-10-01: National Day\n"
        "    workdays: {}\n", encoding="utf-8")
    (folder / "ledger.csv").write_text(LEDGER_CSV, encoding="utf-8")
    return Cell(template=folder, out=folder, problems=refs, notices=ids)


@pytest.fixture(scope="module")
def pristine(template) -> list:
    return dump(f"sqlite:///{template.template / 'template.db'}")


def copy_of(template: Cell, folder: Path) -> tuple[str, Cell]:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(template.template / "template.db", folder / "workflow.db")
    cell = Cell(template=template.template, out=folder, problems=template.problems,
                notices=template.notices)
    return f"sqlite:///{folder / 'workflow.db'}", cell


# -- the table ----------------------------------------------------------------------------------

@pytest.mark.parametrize("command", list(TABLE))
def test_who_may_change_what(command, template, pristine, tmp_path):
    """Each refusal: one `Error:` line, exit 1, the whole database unchanged (all refusals of a
    row run on one copy). Each allowed cell: exit 0 on a fresh copy, and the change is made."""
    argv, allowed = TABLE[command]
    outcome = {}
    url, cell = copy_of(template, tmp_path / "refused")
    for (kind, name), may in zip(ACTORS.items(), allowed, strict=True):
        if may == Y:
            url_ok, cell_ok = copy_of(template, tmp_path / (name or "system"))
            result = Runner(url_ok, today=TODAY)(*argv(cell_ok), actor=name)
            outcome[kind] = Y if result.exit_code == 0 else N
            if result.exit_code == 0:
                made = EFFECT[command](cell_ok) if command in EFFECT else (
                    dump(url_ok) != pristine)
                assert made, f"{kind} was allowed {command} but nothing changed"
            continue
        result = Runner(url, today=TODAY)(*argv(cell), actor=name)
        assert result.exit_code in (0, 1), (kind, result.output)
        outcome[kind] = Y if result.exit_code == 0 else N
        if result.exit_code == 1:
            lines = result.output.splitlines()
            assert len(lines) == 1 and lines[0].startswith("Error: "), (kind, result.output)
            assert any(w in lines[0] for w in ("may not", "no actor", "unknown actor")), (
                kind, result.output)
            assert dump(url) == pristine, f"{kind} was refused {command} but the ledger changed"
    assert outcome == dict(zip(ACTORS, allowed, strict=True)), outcome


def test_every_command_is_in_the_table_a_read_or_named_outside():
    """A new command fails here until it is a row of TABLE (and of docs/permissions.md), a
    read, or outside the actor model with its reason in docs/permissions.md."""
    table = {cli_path(c) for c in TABLE}
    commands = {path for path, _ in leaf_commands(long_running=True)}
    assert not table & READS and not table & OUTSIDE and not READS & OUTSIDE
    missing = sorted(" ".join(p) for p in commands - table - READS - OUTSIDE)
    assert not missing, f"commands in neither the permission table nor READS/OUTSIDE: {missing}"
    gone = sorted(" ".join(p) for p in (table | READS | OUTSIDE) - commands)
    assert not gone, f"no such commands: {gone}"


def test_reads_change_nothing_even_for_an_admin(template, pristine, tmp_path):
    """Every command classed as a read, run by an admin (who may do everything) with its
    required arguments, leaves the database as it was."""
    url, _ = copy_of(template, tmp_path / "reads")
    run = Runner(url, today=TODAY)
    wrote = []
    for path, cmd in leaf_commands():
        if path not in READS:
            continue
        argv = minimal_argv(path, cmd, tmp_path)
        if path[0] == "notice" and len(argv) > 2:
            argv[2] = template.notices["issued"]
        if path[0] == "problem" and path[1] != "add" and len(argv) > 2:
            argv[2] = template.problems["open"]
        result = run(*argv, actor="admin")
        assert result.exit_code in (0, 1), (argv, result.output)
        if dump(url) != pristine:
            wrote.append(" ".join(argv))
            shutil.copy(template.template / "template.db", tmp_path / "reads" / "workflow.db")
    assert not wrote, f"these reads changed the database: {wrote}"


def permissions_table() -> str:
    head = "| command | " + " | ".join(ACTORS) + " |"
    rule = "| --- " * (len(ACTORS) + 1) + "|"
    rows = [f"| `{c}` | " + " | ".join(allowed) + " |" for c, (_, allowed) in TABLE.items()]
    return "\n".join([head, rule, *rows])


def test_docs_show_the_table_the_test_checks():
    """docs/permissions.md holds exactly this table (no row more or less), and names every read
    command and every command outside the table."""
    text = (ROOT / "docs" / "permissions.md").read_text(encoding="utf-8")
    lines = text.splitlines()
    start = lines.index(permissions_table().splitlines()[0]) if (
        permissions_table().splitlines()[0] in lines) else None
    assert start is not None, "docs/permissions.md lacks the table:\n" + permissions_table()
    documented = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        documented.append(line)
    assert "\n".join(documented) == permissions_table(), (
        "docs/permissions.md is stale:\n" + permissions_table())
    unnamed = sorted(" ".join(p) for p in READS | OUTSIDE if f"`{' '.join(p)}`" not in text)
    assert not unnamed, f"docs/permissions.md does not name: {unnamed}"


def test_the_scheduler_does_not_start_for_a_viewer_or_an_unknown_name(template, pristine,
                                                                     tmp_path):
    """`scheduler start` runs until stopped, so it is no row of the table; those who may not
    run it are refused before it starts."""
    import threading

    from workflow.errors import NotAllowed
    from workflow.schedule import start

    url, _ = copy_of(template, tmp_path / "start")
    run = Runner(url, today=TODAY)
    stopped = threading.Event()
    stopped.set()  # were it not refused, it would stop at once instead of running for ever
    for name in ("reader", "nobody"):
        with pytest.raises(NotAllowed):
            start(make_app(url, actor=name, today=TODAY), stop=stopped, catch_up=False)
        assert dump(url) == pristine
        result = run("scheduler", "start", actor=name)
        assert result.exit_code == 1 and len(result.output.splitlines()) == 1, result.output
        assert result.output.startswith("Error: ")
        assert dump(url) == pristine


# Commands that write without a person's rights: with no actor, the system's jobs (sweep,
# delivery, the scheduler), and what has no actors yet (init, restore into an empty file).
SYSTEM_WRITES = {("init",), ("sweep",), ("scheduler", "run"), ("notice", "deliver"),
                 ("restore",)}


@pytest.mark.parametrize("actor", ["reader", "nobody", None])
def test_without_rights_no_command_changes_anything(actor, template, tmp_path):
    """Every command of the CLI (walked, so later commands too), run by a viewer, an unknown
    name or with no actor, leaves the ledger unchanged; with no actor, except the system's own
    jobs. (Run as admin, the same invocations acknowledge and close a notice, move a permit and
    import a ledger row.)"""
    url, _ = copy_of(template, tmp_path / "walk")
    run = Runner(url, today=TODAY)
    before = dump(url)
    wrote = []
    for path, cmd in leaf_commands():
        argv = minimal_argv(path, cmd, tmp_path)
        if path[0] == "notice" and len(argv) > 2:
            argv[2] = template.notices["issued"]
        if path[0] == "problem" and path[1] != "add" and len(argv) > 2:
            argv[2] = template.problems["open"]
        result = run(*argv, actor=actor)
        assert result.exit_code in (0, 1, 2), (argv, result.output)
        after = dump(url)
        if after != before and (actor is not None or path not in SYSTEM_WRITES):
            wrote.append(f"{' '.join(argv)} (exit {result.exit_code})")
        before = after
    assert not wrote, f"{actor} changed the ledger with: {wrote}"
