"""The CLI's command tree, walked, so that tests cover every command (also ones added later)."""

from __future__ import annotations

from pathlib import Path

import click

from workflow.cli import cli

# Placeholder values by parameter name: plausible enough to get past argument checks.
PLACEHOLDER = {"ref": "P1/eia", "event": "accept", "type_": "eia", "code": "P1", "name": "x",
               "role": "viewer", "start": "2026-11-20", "days": "5", "year": "2026"}
CALENDAR_FILE = (
    "name: cn-mainland\nyears:\n  2030:\n    holidays:\n      2030-10-01: National Day\n"
    "    workdays: {}\n"
)


# Commands that run until stopped (a daemon): tests that invoke every command leave them out.
# `demo` builds a whole ledger (minutes for a large one).
LONG_RUNNING = {("scheduler", "start"), ("demo",)}


def leaf_commands(group: click.Group = cli, prefix: tuple[str, ...] = (), *,
                  long_running: bool = False):
    """Yield (path, command) for every command that runs something, depth first."""
    for name in sorted(group.commands):
        cmd = group.commands[name]
        if isinstance(cmd, click.Group):
            yield from leaf_commands(cmd, prefix + (name,), long_running=long_running)
        elif long_running or prefix + (name,) not in LONG_RUNNING:
            yield prefix + (name,), cmd


def placeholder(param: click.Parameter, folder: Path) -> str:
    t = param.type
    if isinstance(t, click.Choice):
        wanted = PLACEHOLDER.get(param.name)
        return wanted if wanted in t.choices else str(t.choices[0])
    if isinstance(t, click.Path):
        path = folder / "calendar-2030.yaml"
        path.write_text(CALENDAR_FILE, encoding="utf-8")
        return str(path)
    if t in (click.INT, click.FLOAT):
        return PLACEHOLDER.get(param.name, "1")
    if t.name == "YYYY-MM-DD":
        return "2026-11-20"
    return PLACEHOLDER.get(param.name, "x")


LEDGER_CSV = "项目代码,项目名称,事项代码,状态代码\nP1,Ring road,eia,draft\n"
# Files a command reads or writes, by command: the kind its suffix says it takes.
FILES = {("board",): "board.html", ("ledger", "export"): "ledger.csv",
         ("ledger", "import"): "ledger-in.csv", ("report", "weekly"): "weekly.md",
         ("report", "agenda"): "agenda.md", ("report", "problems"): "problems.md",
         ("report", "summary"): "summary.md"}


def minimal_argv(path: tuple[str, ...], cmd: click.Command, folder: Path) -> list[str]:
    """The command with every required argument and option filled in."""
    argv = list(path)
    (folder / "ledger-in.csv").write_text(LEDGER_CSV, encoding="utf-8")
    for p in cmd.params:
        value = (str(folder / FILES[path]) if path in FILES and isinstance(p.type, click.Path)
                 else None)
        if isinstance(p, click.Argument) and p.required:
            argv.append(value or placeholder(p, folder))
        elif isinstance(p, click.Option) and (p.required or value):
            argv += [p.opts[0], value or placeholder(p, folder)]
    return argv
