from datetime import date
from pathlib import Path

from tests.helpers import permit, project


def test_accept_then_show_reads_the_clock(app):
    project(app, "P1")
    view = permit(app, "P1", "eia", ("accept", date(2026, 9, 24)))
    assert view["due_on"] == "2026-10-15"
    assert view["light"] == "red"


def test_tests_run_outside_the_checkout():
    """The autouse fixture in conftest.py: files a test writes by relative path (the file
    channel's notices/, reports/) never land in the checkout."""
    checkout = Path(__file__).resolve().parent.parent
    assert not Path.cwd().resolve().is_relative_to(checkout)
