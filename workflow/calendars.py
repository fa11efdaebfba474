"""Calendar commands: show a year, compute a due date, check coverage, load a new year."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

from workflow import actors
from workflow.app import FIRST_YEAR, LAST_YEAR, App
from workflow.domain.calendar import years_from_json
from workflow.errors import BadData
from workflow.store.calendar_table import get_meta, set_meta

CHECK_AHEAD_DAYS = 60
MAX_DAYS = 1000  # working days, about four years: a longer limit is a typo


def show_year(app: App, year: int) -> dict:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise BadData(f"year {year} is outside {FIRST_YEAR}-{LAST_YEAR}")
    cal = app.calendar
    sched = cal.years.get(year)
    return {
        "calendar": cal.name,
        "year": year,
        "covered": sched is not None,
        "holidays": [{"date": d.isoformat(), "name": n} for d, n in sorted(sched.holidays.items())]
        if sched else [],
        "workdays": [{"date": d.isoformat(), "name": n} for d, n in sorted(sched.workdays.items())]
        if sched else [],
        "working_days": sum(
            cal.is_workday(date(year, 1, 1) + timedelta(i))
            for i in range((date(year + 1, 1, 1) - date(year, 1, 1)).days)
        ),
    }


def due(app: App, start: date, days: int) -> dict:
    """The due date of a limit of `days` working days accepted on `start`."""
    if not 1 <= days <= MAX_DAYS:
        raise BadData(f"DAYS must be a positive integer up to {MAX_DAYS}")
    cal = app.calendar
    try:
        due_on = cal.add_workdays(start, days)
    except (OverflowError, ValueError):  # a start near the end of Python's dates
        raise BadData(f"{start} + {days} working days is outside the dates handled") from None
    return {
        "start": start.isoformat(), "days": days, "due_on": due_on.isoformat(),
        "provisional": cal.provisional(start, due_on), "calendar": cal.name,
    }


def check(app: App) -> dict:
    """Which years ahead the calendar lacks, looking CHECK_AHEAD_DAYS ahead of today."""
    cal, today = app.calendar, app.today()
    horizon = today + timedelta(days=CHECK_AHEAD_DAYS)
    missing = [y for y in range(today.year, horizon.year + 1) if y not in cal.covered_years]
    return {
        "calendar": cal.name, "today": today.isoformat(), "horizon": horizon.isoformat(),
        "covered": [min(cal.covered_years), max(cal.covered_years)] if cal.covered_years else [],
        "missing": missing, "ok": not missing,
    }


def load(app: App, path: Path) -> dict:
    """Load years from a calendar file into this database, then recompute open permits."""
    from workflow.policy import load_calendar_file
    from workflow.rebuild import apply_calendar
    from workflow.sweep import last_swept, sweep

    try:
        if not path.is_file():
            raise BadData(f"{path}: no such file")
    except OSError as e:
        raise BadData(f"{path}: {e.strerror}") from None
    loaded = load_calendar_file(path, str(path))
    if not loaded.years:
        raise BadData(f"{path}: years: no year to load")
    with app.db.connect(write=True) as conn:
        actor = actors.lookup(conn, app.settings.actor)
        actors.require(actor, frozenset({actors.Role.ADMIN}), "load a calendar")
        stored = json.loads(get_meta(conn, "calendar_years") or "{}")
        for year, sched in loaded.years.items():
            stored[str(year)] = {
                "holidays": {d.isoformat(): n for d, n in sorted(sched.holidays.items())},
                "workdays": {d.isoformat(): n for d, n in sorted(sched.workdays.items())},
            }
        set_meta(conn, "calendar_years", json.dumps(stored, ensure_ascii=False, sort_keys=True))
        app.__dict__["calendar"] = app.policy.calendar.with_years(years_from_json(stored))
        result = apply_calendar(app, conn)
        last = last_swept(conn)
    # log the light changes the new schedule causes, today, as the daily sweep would; the
    # ledger never goes back, so on the last swept day when `--today` is before it
    swept = sweep(app, day=max(app.today(), last) if last else None)
    return {"years": sorted(loaded.years), **result, "changed_lights": swept["changed"]}
