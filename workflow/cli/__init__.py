"""The `workflow` command line: parse, call one library function, print.

Only click is imported at start-up; each command imports the library it calls, so `--help`
never loads SQLAlchemy. Library errors (WorkflowError) become one `Error: ...` line and exit 1.
"""

from __future__ import annotations

import sys

import click

from workflow.cli.common import WorkflowGroup, date_option_value, pass_app  # noqa: F401


@click.group(cls=WorkflowGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", "db_url", metavar="URL", envvar="WORKFLOW_DB",
              help="Database URL (default sqlite:///workflow.db; postgresql+psycopg://... too).")
@click.option("--policies", type=click.Path(file_okay=False), envvar="WORKFLOW_POLICIES",
              help="Policy directory (default: the policies shipped with workflow).")
@click.option("--as", "actor", metavar="NAME", envvar="WORKFLOW_ACTOR",
              help="Act as this actor (every change is recorded with its actor).")
@click.option("--today", metavar="YYYY-MM-DD", envvar="WORKFLOW_TODAY",
              help="Pretend today is this day (replays and tests).")
@click.version_option(package_name="workflow", prog_name="workflow")
@click.pass_context
def cli(ctx: click.Context, db_url, policies, actor, today):
    """Approval workflow with traffic-light deadline tracking for project permits.

    Example: workflow demo
    """
    ctx.obj = {
        "db_url": db_url, "policies": policies, "actor": actor,
        "today": date_option_value(today, "--today"),
    }


def main() -> None:
    try:
        cli.main(prog_name="workflow")
        code = 0
    except SystemExit as e:
        if e.code is None or isinstance(e.code, int):
            code = e.code or 0
        else:  # sys.exit("message"): Python prints it and exits 1
            print(e.code, file=sys.stderr)
            code = 1
    quick_exit(code)


def quick_exit(code: int) -> None:
    """End the process without tearing the interpreter down.

    A command's work is done here: what is left is freeing the ~200k objects SQLAlchemy,
    pydantic and the policy created, one by one, which costs a cold `permit show` about a
    fifth of its time. So flush what is buffered, close the databases and logs, then leave.
    """
    import os

    if "workflow.store.db" in sys.modules:
        from workflow.store.db import close_all

        close_all()
    if "logging" in sys.modules:  # `--help` never loaded it: no log to close
        sys.modules["logging"].shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BrokenPipeError:  # the reader left (`| head`): nothing more can be said
            pass
        except (OSError, ValueError):  # output lost (disk full): never report success
            code = code or 120
    os._exit(code)


from workflow.cli import core  # noqa: E402,F401  (registers the commands)
from workflow.cli import supervision  # noqa: E402,F401
from workflow.cli import report  # noqa: E402,F401
from workflow.cli import problems  # noqa: E402,F401
from workflow.cli import demo  # noqa: E402,F401
from workflow.cli import audit  # noqa: E402,F401

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
