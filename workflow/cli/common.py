"""What every command shares: the App from global options, dates, JSON and tables."""

from __future__ import annotations

import functools
import sys
from datetime import date

import click

from workflow.errors import WorkflowError


class WorkflowGroup(click.Group):
    """A group that turns library refusals into `Error: ...` and exit status 1."""

    def main(self, *args, **kwargs):
        kwargs.pop("standalone_mode", None)
        try:
            return super().main(*args, standalone_mode=False, **kwargs)
        except click.exceptions.Exit as e:
            sys.exit(e.exit_code)
        except click.ClickException as e:
            e.show()
            sys.exit(e.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        except WorkflowError as e:
            click.echo(f"Error: {e}", err=True)
            sys.exit(1)
        except OSError as e:  # the environment (disk full, permissions), not the input
            where = f": {e.filename}" if e.filename else ""
            click.echo(f"Error: {e.strerror or e}{where}", err=True)
            sys.exit(1)
        except ValueError as e:
            # a NUL in a file name: click's Path type stats it, and the OS refuses with this
            if "null byte" not in str(e):
                raise
            click.echo("Error: a file name must not contain a NUL character", err=True)
            sys.exit(1)
        except Exception as e:  # database driver errors: one line, never a traceback with a DSN
            message = database_error(e)
            if message is None:
                raise
            click.echo(f"Error: {message}", err=True)
            sys.exit(1)


def database_error(e: Exception) -> str | None:
    """Return a one-line message for a database error, or None for anything else."""
    if not type(e).__module__.startswith("sqlalchemy"):
        return None
    from workflow.store.db import redact_text

    text = str(getattr(e, "orig", None) or e).strip().splitlines()[0]
    lowered = text.lower()
    if "no such table" in lowered or ("relation" in lowered and "does not exist" in lowered):
        return "database not initialised: run `workflow init`"
    if "database is locked" in lowered:
        return "database is busy (locked by another writer for too long); try again"
    if "could not serialize" in lowered or "deadlock" in lowered:
        return "conflict with a concurrent change; try again"
    if "append-only" in lowered:
        return "the event log is append-only"
    import sqlalchemy as sa

    from workflow.store.db import _is_disconnect

    text = redact_text(text)
    if isinstance(e, sa.exc.OperationalError) and _is_disconnect(e):
        # a connection made outside Database.connect (e.g. the scheduler's job store)
        return f"database unavailable: {text}"
    return f"database error: {text}"


def date_option_value(text: str | None, what: str) -> date | None:
    if text is None or text == "":
        return None
    from workflow.app import parse_date

    return parse_date(text, what)


class DateType(click.ParamType):
    """YYYY-MM-DD; a malformed date is bad data (exit 1), as the issue tracker expects."""

    name = "YYYY-MM-DD"

    def convert(self, value, param, ctx):
        if isinstance(value, date):
            return value
        from workflow.app import parse_date

        return parse_date(value, f"--{param.name.replace('_', '-')}" if param else "date")


DATE = DateType()


def make_app(ctx: click.Context):
    from workflow.app import App

    obj = ctx.find_root().obj or {}
    return App(
        db_url=obj.get("db_url"), policies=obj.get("policies"), actor=obj.get("actor"),
        today=obj.get("today"),
    )


def pass_app(f):
    """Give the command an App built from the global options as its first argument."""

    @functools.wraps(f)
    @click.pass_context
    def wrapper(ctx, *args, **kwargs):
        return f(make_app(ctx), *args, **kwargs)

    return wrapper


def json_option(f):
    return click.option("--json", "as_json", is_flag=True, help="Print JSON only.")(f)


class PathParam(click.Path):
    """click.Path that gives a pathlib.Path, imported only when a command takes a path
    (pathlib with urllib.parse is a tenth of `workflow --help`'s own import time)."""

    def convert(self, value, param, ctx):
        from pathlib import Path

        return Path(super().convert(value, param, ctx))


def as_path(value):
    """A pathlib.Path of `value`, for the few commands that take a path as text."""
    from pathlib import Path

    return Path(value)


def emit_json(obj) -> None:
    import json

    click.echo(json.dumps(obj, ensure_ascii=False, indent=2, default=str))


def emit_table(rows: list[dict], columns: list[tuple[str, str]], title: str | None = None) -> None:
    """Print `rows` as a terminal table with (key, header) `columns`."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    for _, header in columns:
        table.add_column(header)
    for r in rows:
        table.add_row(*("" if r.get(k) is None else str(r.get(k)) for k, _ in columns))
    Console(soft_wrap=True).print(table)


LIGHT_MARK = {"red": "● red", "yellow": "● yellow", "green": "● green", "none": "-"}


def emit_fields(obj: dict, keys: list[str] | None = None) -> None:
    for k in keys or list(obj):
        v = obj.get(k)
        if isinstance(v, (list, dict)):
            continue
        click.echo(f"{k:>20}: {'' if v is None else v}")
