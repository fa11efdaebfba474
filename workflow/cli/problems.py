"""Commands for the problem ledger (问题清单) and its reports: problem add, list, show, advance,
history; report problems, report summary, report agenda."""

from __future__ import annotations

import click

from workflow.cli import cli
from workflow.cli.common import (
    DATE,
    LIGHT_MARK,
    PathParam,
    emit_fields,
    emit_json,
    emit_table,
    json_option,
    pass_app,
)
from workflow.cli.report import report


@cli.group()
def problem():
    """Raise problems that block projects, move them until struck off, and read their clocks."""


def _problem_table(rows):
    for r in rows:
        r["light_mark"] = LIGHT_MARK.get(r.get("light"), r.get("light"))
        r["left"] = r.get("remaining_days")
    emit_table(rows, [("ref", "id"), ("project", "project"), ("category", "category"),
                      ("department", "owner"), ("responsible", "responsible"),
                      ("state", "state"), ("raised_on", "raised"), ("due_on", "due"),
                      ("left", "days left"), ("overdue_days", "overdue"),
                      ("light_mark", "light"), ("text", "problem")])


@problem.command("add")
@click.argument("code")
@click.option("--category", required=True, metavar="CODE",
              help="Category from policies/problems.yaml (land, power, water, ...).")
@click.option("--owner", required=True, metavar="DEPT", help="Owner department (责任单位).")
@click.option("--days", type=int, metavar="N", help="Promised working days to solve it.")
@click.option("--by", type=DATE, help="Promised date (converted to working days).")
@click.option("--text", required=True, help="What the problem is.")
@click.option("--responsible", metavar="NAME", help="Responsible person (责任人).")
@click.option("--on", "on", type=DATE, help="Day the problem was raised (default today).")
@json_option
@pass_app
def problem_add(app, code, category, owner, days, by, text, responsible, on, as_json):
    """Raise a problem on a project; prints its id.

    Example: workflow problem add P1 --category power --owner grid --days 10 --text "Move poles"
    """
    from workflow import problems

    result = problems.add(app, code, category=category, owner=owner, text=text, days=days,
                          by=by, responsible=responsible, on=on)
    if as_json:
        return emit_json(result)
    click.echo(f"{result['ref']} {result['project']} {result['category']}: due "
               f"{result['due_on']} ({result['promised_days']} working days)")


@problem.command("list")
@click.option("--light", type=click.Choice(["red", "yellow", "green", "none"]))
@click.option("--owner", metavar="DEPT", help="Owner department.")
@click.option("--project", metavar="CODE")
@click.option("--state")
@click.option("--category", metavar="CODE")
@json_option
@pass_app
def problem_list(app, light, owner, project, state, category, as_json):
    """List problems with their clocks as of today.

    Example: workflow problem list --light red --owner grid
    """
    from workflow import problems

    rows = problems.list_(app, light=light, owner=owner, project=project, state=state,
                          category=category)
    if as_json:
        return emit_json(rows)
    _problem_table(rows)


@problem.command("show")
@click.argument("problem_id", metavar="ID")
@json_option
@pass_app
def problem_show(app, problem_id, as_json):
    """Show one problem: owner, state, dates, clock and light as of today.

    Example: workflow problem show 17 --json
    """
    from workflow import problems

    result = problems.show(app, problem_id)
    if as_json:
        return emit_json(result)
    emit_fields(result)


@problem.command("advance")
@click.argument("problem_id", metavar="ID")
@click.argument("event")
@click.option("--on", "on", type=DATE, help="Effective date of the event (default today).")
@click.option("--reason", help="Why (required for suspend, extend, reopen, withdraw).")
@click.option("--days", type=int, help="Working days (extend).")
@click.option("--expect-version", type=int, metavar="N",
              help="Refuse as a conflict unless the problem is still at version N.")
@json_option
@pass_app
def problem_advance(app, problem_id, event, on, reason, days, expect_version, as_json):
    """Fire a lifecycle event on a problem (coordinate, resolve, close, extend, withdraw, ...).

    Example: workflow --as clerk.grid problem advance 17 resolve --on 2026-11-25
    """
    from workflow import problems

    result = problems.advance(app, problem_id, event, on=on, reason=reason, days=days,
                              expect_version=expect_version)
    if as_json:
        return emit_json(result)
    click.echo(f"{result['ref']}: {result['state']}, due {result['due_on']}, "
               f"light {result['light']}")


@problem.command("history")
@click.argument("problem_id", metavar="ID")
@json_option
@pass_app
def problem_history(app, problem_id, as_json):
    """Show every event of a problem with actor, effective date and reason.

    Example: workflow problem history 17
    """
    from workflow import problems

    rows = problems.history(app, problem_id)
    if as_json:
        return emit_json(rows)
    for r in rows:
        d = r["data"]
        r["change"] = (f"{d.get('from', '')} -> {d.get('to', '')}" if "to" in d
                       else d.get("state", ""))
        if "days" in d:
            r["change"] += f" (+{d['days']} days)"
    emit_table(rows, [("seq", "#"), ("on", "on"), ("event", "event"), ("change", "change"),
                      ("actor", "actor"), ("reason", "reason"), ("recorded_at", "recorded (UTC)")])


# -- reports -----------------------------------------------------------------------------------

@report.command("problems")
@click.option("--by", type=click.Choice(["project", "owner", "category"]), default="owner",
              show_default=True, help="Group problems by.")
@click.option("--as-of", type=DATE,
              help="Report the problems as they stood on this day, from their event log "
                   "(default today).")
@click.option("--json", "fmt", flag_value="json", help="Print JSON only.")
@click.option("--csv", "fmt", flag_value="csv", help="Print CSV (UTF-8) only.")
@click.option("--md", "fmt", flag_value="md", help="Print Markdown only.")
@pass_app
def report_problems(app, by, as_of, fmt):
    """Report problems raised, solved, open and overdue, and the solve rate, per group.

    Example: workflow report problems --by category --as-of 2026-11-13 --md
    """
    from workflow.report.problems import problem_report, problem_table
    from workflow.report.render import to_csv, to_markdown

    result = problem_report(app, by=by, as_of=as_of)
    if fmt == "json":
        return emit_json(result)
    columns, rows = problem_table(result)
    if fmt == "csv":
        return click.echo(to_csv(columns, rows), nl=False)
    if fmt == "md":
        return click.echo(to_markdown(columns, rows), nl=False)
    emit_table(rows, columns, title=f"problems by {by} ({result['as_of']})")


@report.command("summary")
@json_option
@pass_app
def report_summary(app, as_json):
    """Print the project summary leaders quote: N projects, M with problems, K solved, L open.

    Example: workflow report summary --json
    """
    from workflow.report.problems import summary

    result = summary(app)
    if as_json:
        return emit_json(result)
    click.echo(result["sentence"])
    click.echo(result["sentence_problems"])
    click.echo(result["sentence_zh"])


@report.command("agenda")
@click.option("--as-of", type=DATE, help="Day the agenda is written for (default today).")
@click.option("--output", "-o", required=True, type=PathParam(dir_okay=False),
              metavar="FILE", help="FILE.md or FILE.xlsx.")
@click.option("--lang", type=click.Choice(["zh", "en"]),
              help="Language of headers and names (default: policy settings.language).")
@json_option
@pass_app
def report_agenda(app, as_of, output, lang, as_json):
    """Write the weekly joint meeting's agenda: per department, its red and yellow items,
    notices awaiting response, and what closed since the last meeting.

    Example: workflow report agenda --as-of 2026-11-25 --output agenda.md
    """
    from workflow.report.agenda import write_agenda

    result = write_agenda(app, output, as_of=as_of, lang=lang)
    if as_json:
        return emit_json(result)
    click.echo(f"wrote {result['path']}: meeting {result['meeting_on']}, "
               f"{len(result['departments'])} departments, {result['items']} items")
