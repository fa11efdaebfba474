"""Who may change what: every mutating command x every kind of actor, allowed or refused, and a
refusal changes nothing. The table below is also docs/permissions.md (a test keeps them equal)."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

from tests.conftest import Runner, dump, make_app
from tests.helpers import permit, project, setup_departments

# Columns: the kinds of actor. Each gets its own permits, so that every allowed move can land.
ACTORS = {
    "department (own)": "clerk.eeb",
    "department (other)": "clerk.drc",
    "supervisor": "office",
    "admin": "admin",
    "viewer": "reader",
    "unknown actor": "nobody",
    "no actor": None,
}
SLUG = {name: (name or "none").replace(".", "-") for name in ACTORS.values()}
STATES = {"draft": (), "accepted": (("accept", date(2026, 11, 2)),),
          "suspended": (("accept", date(2026, 11, 2)),
                        ("suspend", date(2026, 11, 9), {"reason": "补正"}))}

Y, N = "yes", "no"
# command (as documented) -> (argv for actor slug s, who may: one Y/N per ACTORS column)
TABLE: dict[str, tuple] = {
    "actor add": (lambda s, f: ["actor", "add", f"new.{s}", "--role", "viewer"],
                  (N, N, N, Y, N, N, N)),
    "project add": (lambda s, f: ["project", "add", f"N-{s}", "--name", "x"],
                    (Y, Y, Y, Y, N, N, N)),
    "permit add (eia, of eeb)": (lambda s, f: ["permit", "add", f"Q-{s}", "eia"],
                                 (Y, N, Y, Y, N, N, N)),
    "permit advance prepare": (lambda s, f: _move(s, "draft", "prepare"), (Y, N, N, Y, N, N, N)),
    "permit advance accept": (lambda s, f: _move(s, "draft", "accept"), (Y, N, N, Y, N, N, N)),
    "permit advance suspend": (lambda s, f: _move(s, "accepted", "suspend", "--reason", "r"),
                               (Y, N, N, Y, N, N, N)),
    "permit advance resume": (lambda s, f: _move(s, "suspended", "resume"),
                              (Y, N, N, Y, N, N, N)),
    "permit advance extend": (lambda s, f: _move(s, "accepted", "extend", "--reason", "r",
                                                 "--days", "2"), (Y, N, N, Y, N, N, N)),
    "permit advance approve": (lambda s, f: _move(s, "accepted", "approve"),
                               (Y, N, N, Y, N, N, N)),
    "permit advance reject": (lambda s, f: _move(s, "suspended", "reject", "--reason", "r"),
                              (Y, N, N, Y, N, N, N)),
    "permit advance withdraw": (lambda s, f: _move(s, "accepted", "withdraw", "--reason", "r"),
                                (Y, N, Y, Y, N, N, N)),
    "permit advance waive": (lambda s, f: _move(s, "draft", "waive", "--reason", "r"),
                             (N, N, Y, Y, N, N, N)),
    "calendar load": (lambda s, f: ["calendar", "load", f / "cn-2030.yaml"],
                      (N, N, N, Y, N, N, N)),
    "sweep": (lambda s, f: ["sweep", "--today", "2026-11-20"], (Y, Y, Y, Y, N, N, Y)),
    "rebuild": (lambda s, f: ["rebuild"], (N, N, N, Y, N, N, N)),
    "backup": (lambda s, f: ["backup", f / f"backup-{s}.db"], (N, N, N, Y, N, N, N)),
}


def _move(slug: str, state: str, event: str, *extra: str) -> list[str]:
    return ["permit", "advance", f"P-{slug}-{state}/eia", event, "--on", "2026-11-20", *extra]


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A ledger where every actor has its own projects and eia permits in each state."""
    folder = tmp_path_factory.mktemp("permissions")
    app = make_app(f"sqlite:///{folder / 'template.db'}", today=date(2026, 11, 20))
    from workflow.setup import init

    init(app)
    setup_departments(app)
    for slug in SLUG.values():
        project(app, f"Q-{slug}")
        for state, moves in STATES.items():
            project(app, f"P-{slug}-{state}")
            permit(app, f"P-{slug}-{state}", "eia", *moves)
    app.db.dispose()
    (folder / "cn-2030.yaml").write_text(
        "name: cn-mainland\nyears:\n  2030:\n    holidays:\n      2030-10-01: National Day\n"
        "    workdays: {}\n", encoding="utf-8")
    return folder


@pytest.mark.parametrize("command", list(TABLE))
def test_who_may_change_what(command, template, tmp_path):
    db = tmp_path / "workflow.db"
    shutil.copy(template / "template.db", db)
    url = f"sqlite:///{db}"
    argv, allowed = TABLE[command]
    run = Runner(url, today=date(2026, 11, 20))
    outcome = {}
    # refusals first: each must change nothing, so the allowed ones all start from the same ledger
    before = dump(url)
    cells = sorted(zip(ACTORS.items(), allowed, strict=True), key=lambda cell: cell[1] == Y)
    for (kind, name), may in cells:
        result = run(*argv(SLUG[name], template), actor=name)
        assert result.exit_code in (0, 1), (kind, result.output)
        outcome[kind] = Y if result.exit_code == 0 else N
        if result.exit_code == 1:
            assert result.output.startswith("Error: "), result.output
            assert any(w in result.output for w in ("may not", "no actor", "unknown actor")), (
                kind, result.output)
        if may == N:
            assert dump(url) == before, f"{kind} was refused {command} but the ledger changed"
    assert outcome == dict(zip(ACTORS, allowed, strict=True))


def permissions_table() -> str:
    head = "| command | " + " | ".join(ACTORS) + " |"
    rule = "| --- " * (len(ACTORS) + 1) + "|"
    rows = [f"| `{c}` | " + " | ".join(allowed) + " |" for c, (_, allowed) in TABLE.items()]
    return "\n".join([head, rule, *rows])


def test_docs_show_the_table_the_test_checks():
    text = (Path(__file__).parent.parent / "docs" / "permissions.md").read_text(encoding="utf-8")
    assert permissions_table() in text, "docs/permissions.md is stale:\n" + permissions_table()


# Commands that may write without a person's rights: they run as the system (the scheduler's
# jobs: sweep, delivery), or create what has no actors yet (init, restore into an empty file).
SYSTEM_WRITES = {("init",), ("sweep",), ("scheduler", "run"), ("notice", "deliver"),
                 ("restore",)}


@pytest.mark.parametrize("actor", ["reader", None])
def test_without_rights_no_command_changes_anything(actor, template, tmp_path):
    """Every command of the CLI (walked, so later commands too), run by a viewer or with no
    actor, leaves the ledger unchanged, except the system's own jobs. (Run as admin, the same
    invocations acknowledge and close a notice, move a permit and import a ledger row.)"""
    from tests.cli_tree import leaf_commands, minimal_argv
    from workflow.sweep import sweep

    db = tmp_path / "workflow.db"
    shutil.copy(template / "template.db", db)
    url = f"sqlite:///{db}"
    sweep(make_app(url, actor=None))  # red permits: notices to acknowledge, close, redeliver
    run = Runner(url, today=date(2026, 11, 20))
    before = dump(url)
    wrote = []
    for path, cmd in leaf_commands():
        argv = minimal_argv(path, cmd, tmp_path)
        if path[0] == "notice" and len(argv) > 2:
            argv[2] = "1"  # the sweep's first notice
        result = run(*argv, actor=actor)
        assert result.exit_code in (0, 1, 2), (argv, result.output)
        after = dump(url)
        if after != before and path not in SYSTEM_WRITES:
            wrote.append(f"{' '.join(argv)} (exit {result.exit_code})")
        before = after
    assert not wrote, f"{actor} changed the ledger with: {wrote}"
