"""Commands for the supervision office: notices, deliveries, `supervise` and the scheduler."""

from __future__ import annotations

import click

from workflow.cli import cli
from workflow.cli.common import emit_json, emit_table, json_option, pass_app

STATUSES = ["issued", "acknowledged", "responded", "closed"]


@cli.group()
def notice():
    """List, read, acknowledge, respond to and close notices; follow their delivery."""


def _notice_line(n: dict) -> str:
    return f"notice {n['id']} {n['number']} ({n['level']}, to {n['addressee_name']}): {n['status']}"


@notice.command("list")
@click.option("--status", type=click.Choice(STATUSES))
@click.option("--level", help="Escalation level (reminder, supervision, escalation, ...).")
@click.option("--department", metavar="CODE", help="Notices with matters of this department.")
@json_option
@pass_app
def notice_list(app, status, level, department, as_json):
    """List notices, newest first.

    Example: workflow notice list --status issued --level supervision
    """
    from workflow import notices

    rows = notices.list_(app, status=status, level=level, department=department)
    if as_json:
        return emit_json(rows)
    emit_table(rows, [("id", "id"), ("number", "number"), ("level", "level"),
                      ("addressee_name", "addressee"), ("issued_on", "issued"),
                      ("time_limit", "time limit"), ("matters", "matters"),
                      ("status", "status")])


@notice.command("show")
@click.argument("ref", metavar="N")
@click.option("--format", "fmt", type=click.Choice(["md", "html", "text"]), default="text",
              show_default=True)
@click.option("--lang", type=click.Choice(["zh", "en"]), default=None,
              help="Language (default: the policy's).")
@json_option
@pass_app
def notice_show(app, ref, fmt, lang, as_json):
    """Show notice N (its id or number) rendered, or as JSON with matters and deliveries.

    Example: workflow notice show 7 --format html > notice.html
    """
    from workflow import notices

    if as_json:
        return emit_json(notices.show(app, ref))
    click.echo(notices.rendered(app, ref, fmt, lang or app.policy.settings.language), nl=False)


@notice.command("ack")
@click.argument("ref", metavar="N")
@json_option
@pass_app
def notice_ack(app, ref, as_json):
    """Acknowledge (签收) notice N: the addressed department.

    Example: workflow --as clerk.eeb notice ack 7
    """
    from workflow import notices

    result = notices.ack(app, ref)
    if as_json:
        return emit_json(result)
    click.echo(_notice_line(result))


@notice.command("respond")
@click.argument("ref", metavar="N")
@click.option("--text", required=True, help="The response (反馈): what was done, by when.")
@json_option
@pass_app
def notice_respond(app, ref, text, as_json):
    """Record the addressed department's response (反馈) to notice N.

    Example: workflow --as clerk.eeb notice respond 7 --text "Approved on 2026-12-01"
    """
    from workflow import notices

    result = notices.respond(app, ref, text)
    if as_json:
        return emit_json(result)
    click.echo(_notice_line(result))


@notice.command("close")
@click.argument("ref", metavar="N")
@click.option("--note", help="Why the notice is closed (销号).")
@json_option
@pass_app
def notice_close(app, ref, note, as_json):
    """Close (销号) notice N: the supervision office only.

    Example: workflow --as office notice close 7 --note "all matters approved"
    """
    from workflow import notices

    result = notices.close(app, ref, note)
    if as_json:
        return emit_json(result)
    click.echo(_notice_line(result))


@notice.command("deliveries")
@click.option("--failed", is_flag=True, help="Only dead deliveries and those awaiting a retry.")
@click.option("--notice", "notice_ref", metavar="N", help="Only the deliveries of notice N.")
@json_option
@pass_app
def notice_deliveries(app, failed, notice_ref, as_json):
    """List deliveries (outbox rows) with status, attempts and last error.

    Example: workflow notice deliveries --failed
    """
    from workflow.notify.outbox import list_deliveries

    rows = list_deliveries(app, failed=failed, notice=notice_ref)
    if as_json:
        return emit_json(rows)
    emit_table(rows, [("id", "id"), ("number", "notice"), ("channel", "channel"),
                      ("target", "target"), ("status", "status"), ("attempts", "attempts"),
                      ("next_attempt_at", "next attempt"), ("last_error", "last error")])


@notice.command("redeliver")
@click.argument("ref", metavar="N")
@click.option("--all", "all_", is_flag=True, help="Also resend deliveries already sent.")
@json_option
@pass_app
def notice_redeliver(app, ref, all_, as_json):
    """Queue notice N's dead or failing deliveries again (supervisor or admin).

    Example: workflow --as office notice redeliver 7
    """
    from workflow.notify.outbox import redeliver

    result = redeliver(app, ref, all_=all_)
    if as_json:
        return emit_json(result)
    click.echo(f"notice {result['notice']}: {result['queued']} deliveries queued")


@notice.command("deliver")
@click.option("--wait", is_flag=True, help="Wait out robot rate limits until all are sent.")
@json_option
@pass_app
def notice_deliver(app, wait, as_json):
    """Send the deliveries that are due now.

    Example: workflow notice deliver --wait
    """
    from workflow.notify.outbox import deliver

    result = deliver(app, wait=wait)
    if as_json:
        return emit_json(result)
    click.echo(f"sent {result['sent']}, failed {result['failed']}, dead {result['dead']}, "
               f"throttled {result['throttled']}")
    for line in result["errors"]:
        click.echo(f"  {line}")


@cli.command()
@json_option
@pass_app
def supervise(app, as_json):
    """List every open red permit, worst first, with its notice and who is responsible.

    Example: workflow supervise --json
    """
    from workflow.notices import supervise as do_supervise

    rows = do_supervise(app)
    if as_json:
        return emit_json(rows)
    for r in rows:
        r["limit"] = (r["time_limit"] or "") + (" (passed)" if r["time_limit_passed"] else "")
    emit_table(rows, [("permit", "permit"), ("project_name", "project"),
                      ("department_name", "department"), ("due_on", "due"),
                      ("overdue_days", "overdue"), ("responsible", "responsible"),
                      ("leader", "leader"), ("notice", "notice"), ("level", "level"),
                      ("notice_status", "status"), ("limit", "time limit")],
               title=f"open red permits as of {app.today()}")


@cli.group()
def scheduler():
    """Run the daily sweep, notices and delivery on a schedule."""


@scheduler.command("start")
@click.option("--catch-up/--no-catch-up", default=True, show_default=True,
              help="On start, run today's daily job if its time passed and it has not run.")
@pass_app
def scheduler_start(app, catch_up):
    """Run the scheduler in the foreground until SIGTERM or Ctrl-C.

    Example: workflow --db postgresql://office@db/workflow scheduler start
    """
    from workflow.schedule import start

    result = start(app, catch_up=catch_up, on_ready=lambda: click.echo(
        f"scheduler started on {app.db.describe()}", err=True))
    if result["caught_up"]:
        click.echo("ran today's daily job on start (catch-up)", err=True)
    click.echo("scheduler stopped", err=True)


@scheduler.command("status")
@json_option
@pass_app
def scheduler_status(app, as_json):
    """Show the scheduled jobs: next run, last run, last error.

    Example: workflow scheduler status --json
    """
    from workflow.schedule import status

    result = status(app)
    if as_json:
        return emit_json(result)
    emit_table(result["jobs"], [("job", "job"), ("next_run", "next run"),
                                ("last_run", "last run"), ("last_status", "status"),
                                ("last_error", "last error")])
    click.echo(f"last sweep: {result['last_sweep'] or 'never'}")


@scheduler.command("run")
@click.argument("job", type=click.Choice(["daily", "deliver", "weekly"]))
@json_option
@pass_app
def scheduler_run(app, job, as_json):
    """Run one scheduler job now, as the scheduler would (the day is claimed once).

    Example: workflow scheduler run daily
    """
    from workflow.schedule import run_job

    result = run_job(app, job)
    if as_json:
        return emit_json(result)
    click.echo(f"{job}: " + ("skipped (already done)" if result.get("skipped") else "done"))
