"""Commands for reports, the ledger and the wall chart."""

from __future__ import annotations

import click

from workflow.cli import cli
from workflow.cli.common import DATE, PathParam, emit_json, emit_table, pass_app

LANG = click.option("--lang", type=click.Choice(["zh", "en"]),
                    help="Language of headers and names (default: policy settings.language).")


@cli.group()
def report():
    """Completion rates and the weekly report."""


@report.command("completion")
@click.option("--by", type=click.Choice(["type", "department", "district", "campaign"]),
              default="type", show_default=True, help="Group permits by.")
@click.option("--campaign", metavar="NAME", help="Only projects of this campaign.")
@click.option("--as-of", type=DATE, help="Report the state on this day (default today).")
@click.option("--recount", is_flag=True,
              help="Count every permit row, not the counts kept since the day's sweep.")
@click.option("--json", "fmt", flag_value="json", help="Print JSON only.")
@click.option("--csv", "fmt", flag_value="csv", help="Print CSV (UTF-8) only.")
@click.option("--md", "fmt", flag_value="md", help="Print Markdown only.")
@click.option("--xlsx", "xlsx", type=PathParam(dir_okay=False),
              metavar="FILE", help="Write an xlsx workbook to FILE.")
@LANG
@pass_app
def report_completion(app, by, campaign, as_of, recount, fmt, xlsx, lang):
    """Report required, closed and on-time permits and completion rates per group.

    Example: workflow report completion --by department --as-of 2026-11-20 --md
    """
    from workflow.report.completion import completion
    from workflow.report.render import (
        completion_markdown,
        completion_table,
        completion_xlsx,
        to_csv,
    )

    result = completion(app, by=by, campaign=campaign, as_of=as_of, lang=lang, recount=recount)
    if xlsx is not None:
        completion_xlsx(result, xlsx)
        if fmt is None:
            click.echo(f"wrote {xlsx} ({len(result['rows'])} groups)")
    if fmt == "json":
        return emit_json(result)
    if fmt == "csv":
        columns, rows = completion_table(result)
        return click.echo(to_csv(columns, rows), nl=False)
    if fmt == "md":
        return click.echo(completion_markdown(result), nl=False)
    if xlsx is None:
        columns, rows = completion_table(result)
        shown = [{k: ("-" if r.get(k) is None else
                      (f"{r[k]:.2f}" if isinstance(r.get(k), float) else r.get(k)))
                  for k, _ in columns} for r in rows]
        emit_table(shown, columns, title=f"{result['title']} ({result['as_of']})")


@report.command("weekly")
@click.option("--as-of", type=DATE, help="Last day of the week reported (default today).")
@click.option("--output", "-o", required=True, type=PathParam(dir_okay=False),
              metavar="FILE", help="FILE.md or FILE.xlsx.")
@LANG
@click.option("--json", "as_json", is_flag=True, help="Print the report's figures as JSON.")
@pass_app
def report_weekly(app, as_of, output, lang, as_json):
    """Write the weekly report: closings, new reds, notices, department ranking, risks.

    Example: workflow report weekly --as-of 2026-11-20 --output week47.md
    """
    from workflow.report.weekly import write_weekly

    result = write_weekly(app, output, as_of=as_of, lang=lang)
    if as_json:
        return emit_json(result)
    click.echo(f"wrote {output} (week {result['week_start']} to {result['week_end']}: "
               f"{len(result['closings'])} closed, {len(result['new_reds'])} new reds)")


@cli.group()
def ledger():
    """Export and import the ledger (台账) as xlsx or CSV."""


@ledger.command("export")
@click.argument("file", type=PathParam(dir_okay=False))
@click.option("--bom", is_flag=True, help="CSV: start with a UTF-8 BOM (for Excel on Windows).")
@LANG
@click.option("--json", "as_json", is_flag=True, help="Print JSON only.")
@pass_app
def ledger_export(app, file, bom, lang, as_json):
    """Write one row per permit with its project, dates, state and light.

    Example: workflow ledger export ledger.xlsx --lang zh
    """
    from workflow.report.ledger import export

    result = export(app, file, lang=lang, bom=bom)
    if as_json:
        return emit_json(result)
    click.echo(f"wrote {result['path']} ({result['rows']} permits)")


@ledger.command("import")
@click.argument("file", type=PathParam(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print JSON only.")
@pass_app
def ledger_import(app, file, as_json):
    """Import projects and permits from a ledger file; all rows or none.

    Example: workflow --as admin ledger import ledger.csv
    """
    from workflow.report.ledger import import_

    result = import_(app, file)
    if as_json:
        return emit_json(result)
    click.echo(f"imported {result['permits']} permits of {result['projects']} new projects "
               f"({result['events']} events)")


@cli.command()
@click.option("--output", "-o", required=True, type=PathParam(dir_okay=False),
              metavar="FILE", help="The HTML file to write.")
@LANG
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@pass_app
def board(app, output, lang, as_json):
    """Write the wall chart: a self-contained HTML page of projects and permit chains.

    Example: workflow board --output board.html --lang en
    """
    from workflow.report.board import write_board

    result = write_board(app, output, lang=lang)
    if as_json:
        return emit_json(result)
    click.echo(f"wrote {output} ({result['projects']} projects, {result['permits']} permits, "
               f"{result['problems']} open problems)")
