"""The one explicit settings object every library function receives.

`App` holds the settings (database URL, policy directory, actor, today) and opens the database
and loads the policy lazily, so a command pays only for what it uses.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from workflow.errors import BadData

if TYPE_CHECKING:
    from workflow.domain.calendar import Calendar
    from workflow.policy import Policy
    from workflow.store.db import Database

DEFAULT_DB = "sqlite:///workflow.db"


# Dates outside these years are typos (a permit in year 1 or 9999), and date arithmetic near
# Python's own limits overflows: refuse them where input enters.
FIRST_YEAR, LAST_YEAR = 1900, 2199


def parse_date(text: str, what: str = "date") -> date:
    """Parse YYYY-MM-DD (years FIRST_YEAR to LAST_YEAR) or raise BadData naming `what`."""
    try:
        value = date.fromisoformat(text.strip())
    except (ValueError, AttributeError):
        raise BadData(f"{what}: {text!r} is not a date (YYYY-MM-DD)") from None
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise BadData(f"{what}: {value} is outside the years {FIRST_YEAR}-{LAST_YEAR}")
    return value


def check_text(value: str | None, limit: int, what: str) -> None:
    """Refuse text longer than its column holds (PostgreSQL would refuse it, SQLite would not)."""
    if value is not None and len(value) > limit:
        raise BadData(f"{what} is too long ({len(value)} characters; at most {limit})")


@dataclass(frozen=True, kw_only=True)
class Settings:
    db_url: str = DEFAULT_DB
    policies: Path | None = None
    actor: str | None = None
    today: date | None = None

    @classmethod
    def from_env(cls, **overrides) -> Settings:
        """Settings from WORKFLOW_* variables, then explicit overrides (None means unset)."""
        env = os.environ
        values = {
            "db_url": env.get("WORKFLOW_DB") or DEFAULT_DB,
            "policies": Path(env["WORKFLOW_POLICIES"]) if env.get("WORKFLOW_POLICIES") else None,
            "actor": env.get("WORKFLOW_ACTOR") or None,
            "today": parse_date(env["WORKFLOW_TODAY"], "WORKFLOW_TODAY")
            if env.get("WORKFLOW_TODAY") else None,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


class App:
    """Settings plus the database and policy they point at."""

    def __init__(self, settings: Settings | None = None, **overrides):
        self.settings = settings or Settings.from_env(**overrides)

    @cached_property
    def policy(self) -> Policy:
        from workflow.policy import load_policy

        return load_policy(self.settings.policies)

    @cached_property
    def db(self) -> Database:
        from workflow.store.db import Database

        return Database(self.settings.db_url)

    @cached_property
    def calendar(self) -> Calendar:
        """The policy's calendar plus any years loaded into this database."""
        cal = self.policy.calendar
        extra = self.meta("calendar_years")
        if extra:
            from workflow.domain.calendar import years_from_json

            cal = cal.with_years(years_from_json(json.loads(extra)))
        return cal

    def today(self) -> date:
        """Today in the policy's time zone (or --today / WORKFLOW_TODAY)."""
        if self.settings.today is not None:
            return self.settings.today
        from zoneinfo import ZoneInfo

        return datetime.now(ZoneInfo(self.policy.settings.timezone)).date()

    def meta(self, key: str) -> str | None:
        import sqlalchemy as sa

        from workflow.store.models import Meta

        db = self.db
        if db.path is not None and not db.path.exists():
            return None  # no database yet: nothing loaded into it
        try:
            with self.db.connect() as conn:
                return conn.execute(
                    sa.select(Meta.value).where(Meta.key == key)
                ).scalar_one_or_none()
        except sa.exc.DBAPIError as e:
            # a database not initialised yet has no meta table; anything else is an error
            text = str(e.orig).lower()
            if "no such table" in text or "does not exist" in text:
                return None
            raise

    def reset(self) -> None:
        """Forget cached policy, calendar and engine (after a calendar load, in tests)."""
        for name in ("policy", "calendar"):
            self.__dict__.pop(name, None)
