"""Working-day arithmetic on an official calendar.

A day is a working day when it is a weekday that is not a public holiday, or a make-up working
day (调休上班) on a weekend. Years the calendar does not cover count weekends only; any result
that relied on such a day is *provisional* until the real schedule is published.

`ordinal(d)` is the number of working days up to and including `d`, counted from a fixed epoch.
Only differences of ordinals carry meaning, which is what the clock uses: the working days that
pass after `a` up to the end of `b` are `ordinal(b) - ordinal(a)`.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

EPOCH = date(1970, 1, 1)
_EPOCH_MONDAY = date(1969, 12, 29).toordinal()  # the Monday on or before EPOCH


def day_number(d: date) -> int:
    """Return the number of days since 1970-01-01 (how dates are keyed in the database)."""
    return d.toordinal() - EPOCH.toordinal()


def from_day_number(n: int) -> date:
    """Return the date `n` days after 1970-01-01."""
    return date.fromordinal(n + EPOCH.toordinal())


def _weekdays_upto(d: date) -> int:
    """Mondays to Fridays from the epoch Monday up to and including `d`."""
    days = d.toordinal() - _EPOCH_MONDAY + 1
    weeks, rest = divmod(days, 7)
    return weeks * 5 + min(rest, 5)


@dataclass(frozen=True)
class YearSchedule:
    """One year as published: days off and make-up working days, each with its festival name."""

    holidays: Mapping[date, str] = field(default_factory=dict)
    workdays: Mapping[date, str] = field(default_factory=dict)


class Calendar:
    """An official working-day calendar.

    Holidays that fall on a weekend change nothing; make-up days that fall on a weekday change
    nothing. Lookups are O(log n) in the number of exceptions, so building one is cheap.
    """

    def __init__(self, name: str, years: Mapping[int, YearSchedule]):
        self.name = name
        self.years: dict[int, YearSchedule] = dict(sorted(years.items()))
        self.covered_years = frozenset(self.years)
        self._off = sorted(
            d for y in self.years.values() for d in y.holidays if d.weekday() < 5
        )
        self._on = sorted(d for y in self.years.values() for d in y.workdays if d.weekday() >= 5)
        self._off_set = frozenset(self._off)
        self._on_set = frozenset(self._on)
        # A calendar never changes: remember answers of the bisection (a due date per move).
        self.workday_at = functools.lru_cache(maxsize=4096)(self.workday_at)

    def __repr__(self) -> str:
        years = f"{min(self.years)}-{max(self.years)}" if self.years else "none"
        return f"Calendar({self.name!r}, years={years})"

    def is_covered(self, d: date) -> bool:
        """Return True when `d`'s year is in the published schedule."""
        return d.year in self.covered_years

    def is_workday(self, d: date) -> bool:
        """Return True when `d` is a working day (uncovered years: Monday to Friday)."""
        if d in self._on_set:
            return True
        return d.weekday() < 5 and d not in self._off_set

    def ordinal(self, d: date) -> int:
        """Return the number of working days up to and including `d` (from a fixed epoch)."""
        return (
            _weekdays_upto(d)
            - bisect.bisect_right(self._off, d)
            + bisect.bisect_right(self._on, d)
        )

    def workday_at(self, n: int) -> date:
        """Return the working day whose ordinal is `n`."""
        # Every 7 days hold at least 5 - (holidays) working days; search a bracket around a guess.
        guess = date.fromordinal(_EPOCH_MONDAY + (n * 7) // 5)
        lo, hi = guess - timedelta(days=60), guess + timedelta(days=60)
        while self.ordinal(lo) >= n:
            lo -= timedelta(days=60)
        while self.ordinal(hi) < n:
            hi += timedelta(days=60)
        # smallest day with ordinal >= n; ordinals only step up on working days, so it is one
        a, b = lo.toordinal(), hi.toordinal()
        while a < b:
            mid = (a + b) // 2
            if self.ordinal(date.fromordinal(mid)) >= n:
                b = mid
            else:
                a = mid + 1
        return date.fromordinal(a)

    def add_workdays(self, start: date, n: int) -> date:
        """Return the `n`-th working day after `start` (`start` itself never counts).

        `start` may be a holiday or a weekend: counting begins with the next working day.
        `n` must be at least 1.
        """
        if n < 1:
            raise ValueError("n must be at least 1")
        return self.workday_at(self.ordinal(start) + n)

    def workdays_between(self, start: date, end: date) -> int:
        """Return the working days after `start` up to and including `end` (negative if reversed)."""
        return self.ordinal(end) - self.ordinal(start)

    def provisional(self, start: date, end: date) -> bool:
        """Return True when any day from `start` to `end` lies in a year the calendar lacks."""
        lo, hi = min(start, end), max(start, end)
        return any(y not in self.covered_years for y in range(lo.year, hi.year + 1))

    def days(self, first: date, last: date) -> Iterator[tuple[date, bool, int, bool]]:
        """Yield (day, is_workday, ordinal, covered) for every day from `first` to `last`."""
        n = self.ordinal(first - timedelta(days=1))
        d = first
        one = timedelta(days=1)
        while d <= last:
            work = self.is_workday(d)
            n += work
            yield d, work, n, d.year in self.covered_years
            d += one

    def with_years(self, years: Mapping[int, YearSchedule]) -> Calendar:
        """Return a calendar with `years` added or replacing the same years."""
        merged = dict(self.years)
        merged.update(years)
        return Calendar(self.name, merged)


def weekends_only(name: str = "weekends-only") -> Calendar:
    """Return a calendar with no published years: Monday to Friday, every result provisional."""
    return Calendar(name, {})


def calendar_from_dates(
    name: str, holidays: Iterable[date], workdays: Iterable[date], years: Iterable[int]
) -> Calendar:
    """Build a calendar from flat lists (handy in tests)."""
    sched: dict[int, dict[str, dict[date, str]]] = {y: {"h": {}, "w": {}} for y in years}
    for d in holidays:
        sched.setdefault(d.year, {"h": {}, "w": {}})["h"][d] = ""
    for d in workdays:
        sched.setdefault(d.year, {"h": {}, "w": {}})["w"][d] = ""
    return Calendar(name, {y: YearSchedule(v["h"], v["w"]) for y, v in sched.items()})


def years_from_json(stored: Mapping[str, Mapping[str, Mapping[str, str]]]) -> dict[int, YearSchedule]:
    """Rebuild year schedules from their JSON form ({year: {holidays: {iso: name}, ...}})."""
    return {
        int(y): YearSchedule(
            {date.fromisoformat(d): n for d, n in v.get("holidays", {}).items()},
            {date.fromisoformat(d): n for d, n in v.get("workdays", {}).items()},
        )
        for y, v in stored.items()
    }
