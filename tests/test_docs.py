"""docs/ stays in step with the code: the CLI reference, links, and the clock examples."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import click
import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def gen_cli_docs():
    spec = importlib.util.spec_from_file_location("gen_cli_docs", ROOT / "scripts" /
                                                  "gen_cli_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_reference_is_current():
    current = (DOCS / "cli.md").read_text(encoding="utf-8")
    assert current == gen_cli_docs().render(), (
        "docs/cli.md is stale: run python scripts/gen_cli_docs.py"
    )


def test_every_command_is_in_the_cli_reference_with_help_and_an_example():
    from workflow.cli import cli

    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    paths = gen_cli_docs().commands()
    assert "workflow demo" in paths and "workflow permit advance" in paths
    for path in paths:
        assert f"\n## {path}\n" in text, f"{path} is missing from docs/cli.md"
    ctx = click.Context(cli, info_name="workflow")

    def leaves(group, ctx):
        for name in group.list_commands(ctx):
            cmd = group.get_command(ctx, name)
            if isinstance(cmd, click.Group):
                yield from leaves(cmd, click.Context(cmd, info_name=name, parent=ctx))
            else:
                yield f"{ctx.command_path} {name}", cmd

    for path, cmd in leaves(cli, ctx):
        assert cmd.help and "Example: workflow" in cmd.help, f"{path} has no example"


LINK = re.compile(r"\]\(([^)#\s]+\.md)(#[^)]*)?\)")


@pytest.mark.parametrize("page", sorted(p.name for p in DOCS.glob("*.md")) + ["../README.md"])
def test_links_between_pages_resolve(page):
    path = (DOCS / page).resolve()
    for target, _ in LINK.findall(path.read_text(encoding="utf-8")):
        if "://" in target:
            continue
        assert (path.parent / target).is_file(), f"{page} links to missing {target}"


def test_every_docs_page_is_linked_from_the_index():
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    for page in DOCS.glob("*.md"):
        if page.name != "index.md":
            assert f"({page.name}" in index, f"docs/index.md does not link {page.name}"


DUE = re.compile(r"^\$ workflow calendar due (\d{4}-\d\d-\d\d) (\d+)\n(.+)$", re.M)


def test_the_clock_examples_in_the_docs_are_what_the_calendar_says():
    """Every `$ workflow calendar due START N` in docs/ is followed by the real answer."""
    from datetime import date

    from workflow import calendars
    from workflow.app import App, Settings

    app = App(Settings(db_url="sqlite://"))  # the shipped policy's calendar; no database needed
    found = 0
    for page in DOCS.glob("*.md"):
        for start, days, expected in DUE.findall(page.read_text(encoding="utf-8")):
            result = calendars.due(app, date.fromisoformat(start), int(days))
            printed = result["due_on"] + (" (provisional)" if result["provisional"] else "")
            assert printed == expected.strip(), f"{page.name}: due {start} {days}"
            found += 1
    assert found >= 5
