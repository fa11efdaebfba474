"""Build report populations fast: ledger rows imported in one bulk transaction."""

from __future__ import annotations

from datetime import date

from workflow.report import ledger

HEADER = ["project_code", "project_name", "district", "campaigns", "planned_start", "type",
          "level", "state", "accepted_on", "suspended_since", "closed_on", "paused_days",
          "extension_days"]


def row(code: str, type_: str, state: str, *, accepted: date | None = None,
        suspended: date | None = None, closed: date | None = None, district: str = "east",
        campaigns: str = "", name: str | None = None, planned_start: date | None = None,
        level: str = "county", paused: int = 0, extension: int = 0) -> list:
    iso = lambda d: d.isoformat() if d else ""  # noqa: E731
    return [code, name or f"Project {code}", district, campaigns, iso(planned_start), type_,
            level, state, iso(accepted), iso(suspended), iso(closed), paused, extension]


def load(app, rows: list[list]) -> dict:
    return ledger.import_rows(app, HEADER, rows)
