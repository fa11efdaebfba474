from datetime import date

from tests.helpers import permit, project


def test_accept_then_show_reads_the_clock(app):
    project(app, "P1")
    view = permit(app, "P1", "eia", ("accept", date(2026, 9, 24)))
    assert view["due_on"] == "2026-10-15"
    assert view["light"] == "red"
