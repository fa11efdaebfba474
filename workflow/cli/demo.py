"""`workflow demo`: a populated demo database and its supervision summary in one command."""

from __future__ import annotations

import click

from workflow.cli import cli
from workflow.cli.common import PathParam, as_path, emit_json, json_option


@cli.command()
@click.option("--db", "db_url", metavar="URL",
              help="Database to create (default: workflow.db in the output directory).")
@click.option("--output-dir", type=PathParam(file_okay=False),
              default="workflow-demo", show_default=True,
              help="Where the database and the demo's files go.")
@click.option("--projects", type=int, metavar="N", help="Number of projects (default 150).")
@click.option("--seed", type=int, metavar="N", help="Random seed (default from the seeds).")
@click.option("--force", is_flag=True, help="Overwrite a database that is not a demo database.")
@json_option
@click.pass_context
def demo(ctx, db_url, output_dir, projects, seed, force, as_json):
    """Create a demo database of a hundred-day push, sweep it and print its summary.

    Example: workflow demo --output-dir /tmp/demo
    """
    from click.core import ParameterSource

    from workflow.demo import run

    root = ctx.find_root()
    if db_url is None and root.get_parameter_source("db_url") == ParameterSource.COMMANDLINE:
        db_url = root.params["db_url"]  # `workflow --db URL demo`; WORKFLOW_DB is never used
    policies = root.obj.get("policies")
    result = run(output_dir=output_dir, db_url=db_url, projects=projects, seed=seed,
                 force=force, policies=as_path(policies) if policies else None)
    if as_json:
        return emit_json(result)
    _print(result)


def _width(text: str) -> int:
    from unicodedata import east_asian_width

    return sum(2 if east_asian_width(ch) in "WF" else 1 for ch in text)


def _table(rows: list[dict], columns: list[tuple[str, str]]) -> None:
    """A plain table that never truncates (Chinese characters take two columns)."""
    cells = [[header for _, header in columns]]
    cells += [["" if r.get(k) is None else str(r[k]) for k, _ in columns] for r in rows]
    widths = [max(_width(row[i]) for row in cells) for i in range(len(columns))]
    for row in cells:
        padded = (c + " " * (w - _width(c)) for c, w in zip(row, widths, strict=True))
        click.echo(("  " + "  ".join(padded)).rstrip())


def _pct(x):
    return "-" if x is None else f"{x:.1f}%"


def _print(r: dict) -> None:
    s, lights = r["seeded"], r["lights"]
    click.echo(f"{r['city']} {r['campaign']}: supervision summary as of {r['day']}")
    click.echo(f"  {s['projects']} projects, {s['permits']} permits, {s['moves']} moves, "
               f"{s['sweeps']} daily sweeps (seed {s['seed']}) in {r['seconds']} s")
    click.echo(f"Open permits by light: red {lights['red']}, yellow {lights['yellow']}, "
               f"green {lights['green']} ({r['open']} open)")
    click.echo(f"Worst red permits ({len(r['worst_red'])} of {r['red_total']}), "
               "overdue in working days:")
    _table(r["worst_red"], [
        ("ref", "permit"), ("type_name", "type"), ("project_name", "project"),
        ("department", "dept"), ("responsible", "responsible"), ("due_on", "due"),
        ("overdue_days", "overdue"),
    ])
    q = r["problems"]
    c = q["counts"]
    click.echo(f"Problems: {c['raised']} raised, {c['solved']} solved ({c['struck_off']} struck "
               f"off, {c['solved_late']} solved late), {c['open']} open")
    click.echo(f"  {q['sentence']}")
    click.echo(f"Open problems by light: red {q['lights']['red']}, yellow "
               f"{q['lights']['yellow']}, green {q['lights']['green']} ({q['open']} open)")
    click.echo(f"Worst red problems ({len(q['worst_red'])} of {q['red_total']}), overdue in "
               "working days:")
    _table(q["worst_red"], [
        ("ref", "problem"), ("category_name", "category"), ("text", "problem text"),
        ("project_name", "project"), ("department", "owner"), ("due_on", "due"),
        ("overdue_days", "overdue"),
    ])
    click.echo("Notices issued during the push: "
               + ", ".join(f"{level} {n}" for level, n in r["notices"].items()))
    click.echo("Completion by permit type (closed / required; on time / closed):")
    rows = [{**c, "rate": _pct(c["completion_rate"]), "on_time_pct": _pct(c["on_time_rate"])}
            for c in [*r["completion"], {**r["completion_total"], "type": "total"}]]
    _table(rows, [
        ("type", "type"), ("name", "permit type"), ("required", "required"),
        ("closed", "closed"), ("rate", "completion"), ("on_time_pct", "on time"),
        ("in_progress", "in progress"), ("pending", "not accepted"),
    ])
    click.echo("Files:")
    click.echo(f"  {'database':<14} {r['database']}")
    for name, path in r["files"].items():
        click.echo(f"  {name:<14} {path}")
    click.echo("Look around (the demo's day is fixed, so pass it as today):")
    click.echo(f"  export WORKFLOW_DB={r['database']} WORKFLOW_TODAY={r['day']}")
    click.echo("  workflow permit list --light red")
    click.echo("  workflow project list --at-risk")
    click.echo("  workflow problem list --light red")
