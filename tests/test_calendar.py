"""The working-day calendar on real dates, and its properties."""

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workflow.domain.calendar import Calendar, calendar_from_dates, weekends_only
from workflow.policy import load_policy

CAL = load_policy().calendar


@pytest.mark.parametrize(
    "day, working",
    [
        (date(2026, 2, 14), True),   # Saturday, make-up working day before Spring Festival
        (date(2026, 2, 16), False),  # Spring Festival holiday (Monday)
        (date(2026, 2, 23), False),  # last day of the 2026 Spring Festival break
        (date(2026, 2, 24), True),
        (date(2026, 2, 28), True),   # Saturday, make-up working day after Spring Festival
        (date(2026, 9, 20), True),   # Sunday, make-up day for National Day
        (date(2026, 9, 25), False),  # Mid-Autumn Festival (Friday)
        (date(2026, 10, 1), False),
        (date(2026, 10, 7), False),
        (date(2026, 10, 8), True),
        (date(2026, 10, 10), True),  # Saturday, make-up working day
        (date(2026, 10, 11), False),  # an ordinary Sunday
        (date(2025, 10, 11), True),  # 2025 National Day make-up Saturday
        (date(2025, 10, 8), False),  # 2025 National Day + Mid-Autumn break ends on the 8th
        (date(2025, 1, 26), True),   # Sunday, make-up working day before Spring Festival 2025
        (date(2025, 1, 28), False),  # Spring Festival's Eve 2025 is a holiday
        (date(2025, 9, 28), True),   # Sunday, make-up working day for National Day 2025
    ],
)
def test_real_days_off_and_make_up_days(day, working):
    assert CAL.is_workday(day) is working


@pytest.mark.parametrize(
    "start, days, due",
    [
        (date(2026, 9, 24), 10, date(2026, 10, 15)),  # the example over National Day
        (date(2026, 2, 12), 3, date(2026, 2, 24)),    # Thu; 13 Fri, 14 Sat make-up, then 24th
        (date(2026, 2, 16), 1, date(2026, 2, 24)),    # accepted on a holiday (online)
        (date(2026, 10, 3), 1, date(2026, 10, 8)),    # accepted on a weekend inside the break
        (date(2026, 10, 9), 1, date(2026, 10, 10)),   # the next working day is a Saturday
        (date(2025, 9, 26), 5, date(2025, 10, 10)),   # Sun 28 Sep make-up, 29, 30, 9 and 10 Oct
    ],
)
def test_due_dates_over_real_holidays(start, days, due):
    assert CAL.add_workdays(start, days) == due
    assert not CAL.provisional(start, due)


def test_a_limit_running_into_an_uncovered_year_is_provisional():
    due = CAL.add_workdays(date(2026, 12, 21), 10)
    # 2027 is not published: weekends only, so 1 January 2027 counts as a working day
    assert CAL.is_workday(date(2027, 1, 1))
    assert due == date(2027, 1, 4)
    assert CAL.provisional(date(2026, 12, 21), due)
    assert not CAL.is_covered(due)


def test_uncovered_years_count_weekdays():
    cal = weekends_only()
    assert cal.add_workdays(date(2030, 1, 4), 1) == date(2030, 1, 7)  # Friday -> Monday
    assert cal.workdays_between(date(2030, 1, 6), date(2030, 1, 13)) == 5


def test_holiday_on_weekend_and_make_up_on_weekday_change_nothing():
    plain = weekends_only()
    odd = calendar_from_dates("odd", [date(2026, 3, 7)], [date(2026, 3, 9)], [2026])
    for d in (date(2026, 3, 7), date(2026, 3, 9)):
        assert odd.is_workday(d) == plain.is_workday(d)
    assert odd.ordinal(date(2026, 3, 31)) - odd.ordinal(date(2026, 3, 1)) == (
        plain.ordinal(date(2026, 3, 31)) - plain.ordinal(date(2026, 3, 1))
    )


def test_materialised_rows_match_the_calendar():
    rows = list(CAL.days(date(2026, 9, 20), date(2026, 10, 12)))
    for d, work, ordinal, covered in rows:
        assert work == CAL.is_workday(d)
        assert ordinal == CAL.ordinal(d)
        assert covered


days = st.dates(min_value=date(2005, 1, 1), max_value=date(2030, 12, 31))


@settings(max_examples=300, deadline=None)
@given(start=days, n=st.integers(min_value=1, max_value=200))
def test_due_date_is_a_working_day_n_working_days_later(start, n):
    due = CAL.add_workdays(start, n)
    assert CAL.is_workday(due)
    assert due > start
    assert CAL.workdays_between(start, due) == n
    # no earlier day reaches n working days
    assert CAL.workdays_between(start, due - timedelta(days=1)) == n - 1


@settings(max_examples=300, deadline=None)
@given(start=days, n=st.integers(min_value=1, max_value=200))
def test_one_more_day_of_limit_never_moves_the_due_date_earlier(start, n):
    assert CAL.add_workdays(start, n + 1) > CAL.add_workdays(start, n)


@settings(max_examples=200, deadline=None)
@given(a=days, b=days)
def test_ordinal_counts_working_days_one_by_one(a, b):
    lo, hi = min(a, b), max(a, b)
    if (hi - lo).days > 400:
        hi = lo + timedelta(days=400)
    counted = sum(CAL.is_workday(lo + timedelta(i + 1)) for i in range((hi - lo).days))
    assert CAL.workdays_between(lo, hi) == counted


def test_workday_at_inverts_ordinal():
    cal: Calendar = CAL
    for d in (date(2026, 2, 14), date(2026, 10, 8), date(2004, 1, 2), date(2040, 6, 1)):
        if cal.is_workday(d):
            assert cal.workday_at(cal.ordinal(d)) == d
