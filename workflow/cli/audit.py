"""Commands that keep the record trustworthy: verify the hash chains, back up, restore."""

from __future__ import annotations

import click

from workflow.cli import cli
from workflow.cli.common import PathParam, emit_json, json_option, pass_app


@cli.group()
def audit():
    """Check that the event log is intact."""


@audit.command("verify")
@json_option
@pass_app
def audit_verify(app, as_json):
    """Walk every permit's and problem's hash chain; name the first event altered or removed.

    Exits 1 when any chain is broken.

    Example: workflow audit verify --json
    """
    from workflow.audit import verify

    result = verify(app)
    if as_json:
        emit_json(result)
    else:
        for b in result["broken"]:
            click.echo(f"BROKEN {b['kind']} {b['ref']}: {b['finding']}")
        if result["broken_count"] > len(result["broken"]):
            click.echo(f"... and {result['broken_count'] - len(result['broken'])} more")
        status = "ok" if result["ok"] else f"{result['broken_count']} broken"
        click.echo(f"{result['permits']} permits, {result['problems']} problems, "
                   f"{result['events']} events: {status}; digest {result['digest']}")
    if not result["ok"]:
        raise SystemExit(1)


@cli.command()
@click.argument("file", type=PathParam())
@click.option("--force", is_flag=True, help="Overwrite FILE if it exists.")
@json_option
@pass_app
def backup(app, file, force, as_json):
    """Copy the SQLite database to FILE while it stays in use (PostgreSQL: use pg_dump).

    Example: workflow --as admin backup backups/workflow-2026-11-20.db
    """
    from workflow.backup import backup as do_backup

    result = do_backup(app, file, force=force)
    if as_json:
        return emit_json(result)
    click.echo(f"backed up {result['database']} to {result['file']}: {result['project']} "
               f"projects, {result['permit']} permits, {result['permit_event']} events")


@cli.command()
@click.argument("file", type=PathParam())
@json_option
@pass_app
def restore(app, file, as_json):
    """Restore backup FILE into an empty (new) SQLite database given by --db.

    Example: workflow --db sqlite:///restored.db restore backups/workflow-2026-11-20.db
    """
    from workflow.backup import restore as do_restore

    result = do_restore(app, file)
    if as_json:
        return emit_json(result)
    click.echo(f"restored {result['file']} into {result['database']}: {result['project']} "
               f"projects, {result['permit']} permits, {result['permit_event']} events; "
               "run `workflow audit verify`")
