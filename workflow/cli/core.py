"""Commands for setup, policies, actors, projects, permits, the calendar, sweep and rebuild."""

from __future__ import annotations

import click

from workflow.cli import cli
from workflow.cli.common import (
    DATE,
    LIGHT_MARK,
    PathParam,
    as_path,
    emit_fields,
    emit_json,
    emit_table,
    json_option,
    pass_app,
)


@cli.command()
@json_option
@pass_app
def init(app, as_json):
    """Create or upgrade the database schema (idempotent) and add the admin actor.

    Example: workflow --db sqlite:///office.db init
    """
    from workflow.setup import init as do_init

    result = do_init(app)
    if as_json:
        return emit_json(result)
    click.echo(f"database {result['database']} at schema {result['schema']}"
               + (" (admin actor added)" if result["admin_added"] else ""))


# -- policy ------------------------------------------------------------------------------------

@cli.group()
def policy():
    """Validate and list policies."""


@policy.command("check")
@click.argument("directory", required=False, type=click.Path())
def policy_check(directory):
    """Validate a policy directory; errors name the file and the key.

    Example: workflow policy check ./policies
    """
    from workflow.policy import load_policy

    p = load_policy(as_path(directory) if directory else None)
    click.echo(f"{p.directory}: ok ({len(p.permit_types)} permit types, "
               f"{len(p.departments)} departments, calendars: {', '.join(p.calendars)})")


@policy.command("show")
@json_option
@pass_app
def policy_show(app, as_json):
    """List permit types with department, promised days per level and prerequisites.

    Example: workflow policy show --json
    """
    p = app.policy
    rows = [
        {"code": t.code, "zh": t.zh, "en": t.en, "department": t.department,
         "promised_days": t.promised_days, "prerequisites": list(t.prerequisites),
         "warning": {k: v for k, v in vars(t.warning).items() if v is not None},
         "max_extension_days": t.max_extension_days}
        for t in p.permit_types.values()
    ]
    if as_json:
        return emit_json(rows)
    for r in rows:
        r["days"] = " ".join(f"{k[:4]}:{v}" for k, v in r["promised_days"].items())
        r["pre"] = ", ".join(r["prerequisites"])
        r["warn"] = ", ".join(f"{k}={v}" for k, v in r["warning"].items())
    emit_table(rows, [("code", "code"), ("zh", "名称"), ("department", "department"),
                      ("days", "promised working days"), ("pre", "prerequisites"),
                      ("warn", "yellow when")], title=f"permit types ({p.directory})")


# -- actors ------------------------------------------------------------------------------------

@cli.group()
def actor():
    """Add and list actors (who may do what)."""


@actor.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(
    ["department", "supervisor", "admin", "viewer"]))
@click.option("--department", metavar="CODE", help="Home department (required for role department).")
@json_option
@pass_app
def actor_add(app, name, role, department, as_json):
    """Add an actor (admin only).

    Example: workflow --as admin actor add li.env --role department --department eeb
    """
    from workflow import actors

    result = actors.add(app, name, role, department)
    if as_json:
        return emit_json(result)
    click.echo(f"actor {result['name']} ({result['role']}"
               + (f", {result['department']})" if result["department"] else ")"))


@actor.command("list")
@json_option
@pass_app
def actor_list(app, as_json):
    """List actors.

    Example: workflow actor list
    """
    from workflow import actors

    rows = actors.list_all(app)
    if as_json:
        return emit_json(rows)
    emit_table(rows, [("name", "name"), ("role", "role"), ("department", "department")])


# -- projects ----------------------------------------------------------------------------------

@cli.group()
def project():
    """Register projects and read their light, countdown and risk."""


@project.command("add")
@click.argument("code")
@click.option("--name", required=True, help="Project name.")
@click.option("--district")
@click.option("--park", help="Park or zone.")
@click.option("--investment", type=float, metavar="WAN_YUAN", help="Total investment (万元).")
@click.option("--planned-start", type=DATE, help="Planned start of construction (计划开工).")
@click.option("--leader", help="Leader in charge (包保领导).")
@click.option("--contact", help="Contact person (联络员).")
@click.option("--campaign", "campaigns", multiple=True, metavar="NAME",
              help="Campaign the project belongs to (repeatable).")
@json_option
@pass_app
def project_add(app, code, name, district, park, investment, planned_start, leader, contact,
                campaigns, as_json):
    """Register a project under its project code.

    Example: workflow project add 2026-330100-01 --name "Ring road" --planned-start 2027-03-01
    """
    from workflow import projects

    result = projects.add(app, code, name=name, district=district, park=park,
                          investment=investment, planned_start=planned_start, leader=leader,
                          contact=contact, campaigns=tuple(campaigns))
    if as_json:
        return emit_json(result)
    click.echo(f"project {result['code']} {result['name']}")


@project.command("list")
@click.option("--district")
@click.option("--campaign")
@click.option("--light", type=click.Choice(["red", "yellow", "green", "none"]))
@click.option("--at-risk", is_flag=True, default=None, help="Only projects at risk.")
@json_option
@pass_app
def project_list(app, district, campaign, light, at_risk, as_json):
    """List projects with their light, countdown to planned start and risk.

    Example: workflow project list --at-risk
    """
    from workflow import projects

    rows = projects.list_(app, district=district, campaign=campaign, light=light,
                          at_risk=at_risk)
    if as_json:
        return emit_json(rows)
    for r in rows:
        r["light"] = LIGHT_MARK.get(r["light"], r["light"])
        r["risk"] = "AT RISK" if r["at_risk"] else ""
    emit_table(rows, [("code", "code"), ("name", "name"), ("district", "district"),
                      ("light", "light"), ("closed", "closed"), ("permits", "permits"),
                      ("countdown_days", "days to start"),
                      ("critical_path_days", "critical path"), ("risk", "")])


@project.command("show")
@click.argument("code")
@json_option
@pass_app
def project_show(app, code, as_json):
    """Show a project and its permits.

    Example: workflow project show 2026-330100-01 --json
    """
    from workflow import projects

    result = projects.show(app, code)
    if as_json:
        return emit_json(result)
    emit_fields(result)
    _permit_table(result["permit_list"])


# -- permits -----------------------------------------------------------------------------------

@cli.group()
def permit():
    """Add permits to projects, advance them, and read their clocks."""


@permit.command("add")
@click.argument("code")
@click.argument("type_", metavar="TYPE")
@click.option("--level", type=click.Choice(["national", "provincial", "municipal", "county"]),
              help="Approval level (default from settings).")
@click.option("--promised-days", type=int, metavar="N",
              help="Promised working days, overriding the policy's limit for the level.")
@click.option("--responsible", metavar="NAME", help="Responsible person (责任人).")
@json_option
@pass_app
def permit_add(app, code, type_, level, promised_days, responsible, as_json):
    """Add a permit to a project; prints its reference CODE/TYPE.

    Example: workflow permit add 2026-330100-01 eia --level municipal
    """
    from workflow import permits

    result = permits.add(app, code, type_, level=level, promised_days=promised_days,
                         responsible=responsible)
    if as_json:
        return emit_json(result)
    click.echo(result["ref"])


def _permit_table(rows):
    for r in rows:
        r["light_mark"] = LIGHT_MARK.get(r.get("light"), r.get("light"))
        r["left"] = r.get("remaining_days")
    emit_table(rows, [("ref", "ref"), ("type_name", "permit"), ("department", "dept"),
                      ("state", "state"), ("accepted_on", "accepted"), ("due_on", "due"),
                      ("left", "days left"), ("overdue_days", "overdue"),
                      ("light_mark", "light")])


@permit.command("list")
@click.option("--state")
@click.option("--department", metavar="CODE")
@click.option("--district")
@click.option("--project", metavar="CODE")
@click.option("--type", "type_", metavar="TYPE")
@click.option("--light", type=click.Choice(["red", "yellow", "green", "none"]))
@json_option
@pass_app
def permit_list(app, state, department, district, project, type_, light, as_json):
    """List permits with their clocks as of today.

    Example: workflow permit list --light red --department eeb
    """
    from workflow import permits

    rows = permits.list_(app, state=state, department=department, district=district,
                         project=project, type_=type_, light=light)
    if as_json:
        return emit_json(rows)
    _permit_table(rows)


@permit.command("show")
@click.argument("ref")
@json_option
@pass_app
def permit_show(app, ref, as_json):
    """Show one permit: state, dates, clock and light as of today.

    Example: workflow permit show 2026-330100-01/eia --json
    """
    from workflow import permits

    result = permits.show(app, ref)
    if as_json:
        return emit_json(result)
    emit_fields(result)


@permit.command("history")
@click.argument("ref")
@json_option
@pass_app
def permit_history(app, ref, as_json):
    """Show every event of a permit with actor, effective date and reason.

    Example: workflow permit history 2026-330100-01/eia
    """
    from workflow import permits

    rows = permits.history(app, ref)
    if as_json:
        return emit_json(rows)
    for r in rows:
        d = r["data"]
        r["change"] = f"{d.get('from', '')} -> {d.get('to', '')}" if "to" in d else d.get("state", "")
        if "days" in d:
            r["change"] += f" (+{d['days']} days)"
    emit_table(rows, [("seq", "#"), ("on", "on"), ("event", "event"), ("change", "change"),
                      ("actor", "actor"), ("reason", "reason"), ("recorded_at", "recorded (UTC)")])


@permit.command("advance")
@click.argument("ref")
@click.argument("event")
@click.option("--on", "on", type=DATE, help="Effective date of the event (default today).")
@click.option("--reason", help="Why (required for suspend, extend, reject, withdraw, waive).")
@click.option("--days", type=int, help="Working days (extend).")
@click.option("--expect-version", type=int, metavar="N",
              help="Refuse as a conflict unless the permit is still at version N.")
@json_option
@pass_app
def permit_advance(app, ref, event, on, reason, days, expect_version, as_json):
    """Fire a lifecycle event on a permit (accept, suspend, resume, extend, approve, ...).

    Example: workflow --as li.env permit advance 2026-330100-01/eia accept --on 2026-11-02
    """
    from workflow import permits

    result = permits.advance(app, ref, event, on=on, reason=reason, days=days,
                             expect_version=expect_version)
    if as_json:
        return emit_json(result)
    click.echo(f"{result['ref']}: {result['state']}"
               + (f", due {result['due_on']}, light {result['light']}" if result.get("due_on")
                  else ""))


# -- calendar ----------------------------------------------------------------------------------

@cli.group()
def calendar():
    """The official working-day calendar."""


@calendar.command("show")
@click.argument("year", type=int)
@json_option
@pass_app
def calendar_show(app, year, as_json):
    """List a year's public holidays and make-up working days.

    Example: workflow calendar show 2026
    """
    from workflow import calendars

    result = calendars.show_year(app, year)
    if as_json:
        return emit_json(result)
    if not result["covered"]:
        click.echo(f"{year}: not in calendar {result['calendar']} (weekends only, provisional)")
        return
    click.echo(f"{result['calendar']} {year}: {result['working_days']} working days")
    for kind, label in (("holidays", "holiday"), ("workdays", "make-up working day")):
        for d in result[kind]:
            click.echo(f"  {d['date']}  {label:<20} {d['name']}")


@calendar.command("due")
@click.argument("start", type=DATE)
@click.argument("days", type=int)
@json_option
@pass_app
def calendar_due(app, start, days, as_json):
    """Print the due date of a limit of DAYS working days accepted on START.

    Example: workflow calendar due 2026-09-24 10
    """
    from workflow import calendars

    result = calendars.due(app, start, days)
    if as_json:
        return emit_json(result)
    click.echo(result["due_on"] + (" (provisional)" if result["provisional"] else ""))


@calendar.command("check")
@click.option("--strict", is_flag=True, help="Exit 1 when a year ahead is missing.")
@json_option
@pass_app
def calendar_check(app, strict, as_json):
    """Warn when today + 60 days reaches a year the calendar does not cover.

    Example: workflow calendar check --strict
    """
    from workflow import calendars

    result = calendars.check(app)
    if as_json:
        emit_json(result)
    elif result["ok"]:
        click.echo(f"calendar {result['calendar']} covers up to {result['horizon']}")
    else:
        click.echo(
            f"Warning: calendar {result['calendar']} lacks {', '.join(map(str, result['missing']))}"
            f" (needed by {result['horizon']}): due dates there count weekends only and are "
            "provisional; load the published schedule with `workflow calendar load FILE`",
            err=True,
        )
    if strict and not result["ok"]:
        raise SystemExit(1)


@calendar.command("load")
@click.argument("file", type=PathParam(dir_okay=False))
@json_option
@pass_app
def calendar_load(app, file, as_json):
    """Load a year's published schedule and recompute every open permit.

    Example: workflow --as admin calendar load cn-2027.yaml
    """
    from workflow import calendars

    result = calendars.load(app, file)
    if as_json:
        return emit_json(result)
    click.echo(f"loaded {', '.join(map(str, result['years']))}; "
               f"{result['rebuilt']} of {result['checked']} open permits changed")


# -- sweep and rebuild -------------------------------------------------------------------------

@cli.command()
@click.option("--today", "day", type=DATE, help="Sweep as of this day (default today).")
@click.option("--dry-run", is_flag=True, help="Compute and report, write nothing.")
@json_option
@pass_app
def sweep(app, day, dry_run, as_json):
    """Recompute every open permit's light as of a day and record the changes.

    Example: workflow sweep --today 2026-11-30
    """
    from workflow.sweep import sweep as do_sweep

    result = do_sweep(app, day=day, dry_run=dry_run)
    if as_json:
        return emit_json(result)
    lights = result["lights"]
    click.echo(
        f"sweep {result['day']}{' (dry run)' if dry_run else ''}: {result['open']} open permits, "
        f"green {lights['green']}, yellow {lights['yellow']}, red {lights['red']}; "
        f"{result['changed']} changed"
    )
    for change, n in result["transitions"].items():
        click.echo(f"  {change}: {n}")
    problems = result.get("problems")
    if problems:
        pl = problems["lights"]
        click.echo(
            f"problems: {problems['open']} open, green {pl['green']}, yellow {pl['yellow']}, "
            f"red {pl['red']}; {problems['changed']} changed"
        )
        for change, n in problems["transitions"].items():
            click.echo(f"  {change}: {n}")


@cli.command()
@click.option("--permit", "ref", metavar="REF", help="Rebuild one permit only.")
@click.option("--check", is_flag=True, help="Only report rows that differ from their log.")
@json_option
@pass_app
def rebuild(app, ref, check, as_json):
    """Recompute permit rows (and problem rows) from the event log alone.

    Example: workflow rebuild --check
    """
    from workflow.rebuild import rebuild as do_rebuild

    result = do_rebuild(app, ref, check_only=check, problems=True)
    if as_json:
        return emit_json(result)
    key = "differing" if check else "rebuilt"
    click.echo(f"{result['checked']} permits checked, {result[key]} {key}")
    problems = result.get("problems")
    if problems:
        click.echo(f"{problems['checked']} problems checked, {problems[key]} {key}")
    if result.get("tally_differing"):
        click.echo(f"{result['tally_differing']} buckets of the completion report's kept counts "
                   "differ from the permits (`workflow rebuild` recounts them)")
    if check and (result[key] or (problems or {}).get(key) or result.get("tally_differing")):
        raise SystemExit(1)
