"""The clock rules of DESIGN.md, pinned one by one, and their properties."""

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workflow.domain.clock import ClockFacts, Light, Phase, WarningRule, read_clock
from workflow.domain.lifecycle import ClockEffect
from workflow.domain.projection import Facts, apply_move
from workflow.policy import load_policy

CAL = load_policy().calendar
THREE = WarningRule(remaining_days=3)


def accepted(on: date, days: int = 10) -> Facts:
    start = Facts(state="draft", phase=Phase.PENDING)
    return apply_move(start, cal=CAL, effect=ClockEffect.START, state="accepted",
                      phase=Phase.RUNNING, on=on, promised_days=days)


def move(f: Facts, effect: ClockEffect, on: date, days: int | None = None) -> Facts:
    state, phase = {
        ClockEffect.PAUSE: ("suspended", Phase.PAUSED),
        ClockEffect.RESUME: ("accepted", Phase.RUNNING),
        ClockEffect.EXTEND: (f.state, f.phase),
        ClockEffect.CLOSE: ("approved", Phase.CLOSED),
        ClockEffect.VOID: ("withdrawn", Phase.VOID),
    }[effect]
    return apply_move(f, cal=CAL, effect=effect, state=state, phase=phase, on=on, days=days)


def read(f: Facts, as_of: date, rule: WarningRule = THREE):
    return read_clock(f.clock(CAL), CAL, rule, as_of)


def test_acceptance_day_does_not_count():
    r = read(accepted(date(2026, 11, 2)), date(2026, 11, 2))  # Monday
    assert r.elapsed_days == 0 and r.remaining_days == 10
    assert r.due_on == date(2026, 11, 16)


def test_acceptance_on_a_holiday_starts_with_the_next_working_day():
    f = accepted(date(2026, 10, 3))  # Saturday inside the National Day break
    assert read(f, date(2026, 10, 7)).elapsed_days == 0
    assert read(f, date(2026, 10, 8)).elapsed_days == 1
    assert read(f, date(2026, 10, 8)).due_on == date(2026, 10, 20)  # Sat 10 Oct is a working day


def test_on_the_due_date_the_light_is_yellow_and_red_the_next_working_day():
    f = accepted(date(2026, 9, 24))
    assert read(f, date(2026, 10, 15)).light == Light.YELLOW
    assert read(f, date(2026, 10, 15)).remaining_days == 0
    assert read(f, date(2026, 10, 16)).light == Light.RED
    assert read(f, date(2026, 10, 16)).overdue_days == 1


def test_yellow_by_remaining_days_and_by_elapsed_percent():
    f = accepted(date(2026, 11, 2))  # due 2026-11-16
    assert read(f, date(2026, 11, 10)).light == Light.GREEN  # 4 left
    assert read(f, date(2026, 11, 11)).light == Light.YELLOW  # 3 left
    pct = WarningRule(elapsed_percent=80)
    assert read(f, date(2026, 11, 11), pct).light == Light.GREEN  # 7 of 10 elapsed
    assert read(f, date(2026, 11, 12), pct).light == Light.YELLOW  # 8 of 10 elapsed


def test_elapsed_percent_threshold_is_inclusive():
    pct = WarningRule(elapsed_percent=80)
    f = accepted(date(2026, 11, 2))
    r = read(f, date(2026, 11, 12), pct)
    assert r.elapsed_days == 8 and r.light == Light.YELLOW


def test_suspend_and_resume_pause_the_days_suspended_at_their_end():
    f = accepted(date(2026, 11, 2))  # due 2026-11-16
    f = move(f, ClockEffect.PAUSE, date(2026, 11, 4))  # Wednesday
    f = move(f, ClockEffect.RESUME, date(2026, 11, 9))  # Monday: Wed, Thu, Fri paused
    assert f.paused_days == 3
    r = read(f, date(2026, 11, 9))
    assert r.due_on == date(2026, 11, 19)
    assert r.elapsed_days == 2


def test_while_suspended_remaining_days_are_frozen():
    f = move(accepted(date(2026, 11, 2)), ClockEffect.PAUSE, date(2026, 11, 4))
    a, b = read(f, date(2026, 11, 5)), read(f, date(2026, 11, 30))
    # Tuesday elapsed; Wednesday is paused (suspended at its end)
    assert a.remaining_days == b.remaining_days == 9
    assert b.light == Light.GREEN


def test_suspend_and_resume_on_the_same_day_change_nothing():
    f0 = accepted(date(2026, 11, 2))
    f1 = move(move(f0, ClockEffect.PAUSE, date(2026, 11, 5)), ClockEffect.RESUME, date(2026, 11, 5))
    for day in (date(2026, 11, 5), date(2026, 11, 20)):
        assert read(f0, day) == read(f1, day)


def test_extension_adds_working_days():
    f = move(accepted(date(2026, 11, 2)), ClockEffect.EXTEND, date(2026, 11, 10), days=5)
    assert read(f, date(2026, 11, 10)).due_on == date(2026, 11, 23)


def test_closed_on_time_is_green_and_late_is_red_with_overdue_days():
    f = accepted(date(2026, 9, 24))  # due 2026-10-15
    on_time = move(f, ClockEffect.CLOSE, date(2026, 10, 15))
    late = move(f, ClockEffect.CLOSE, date(2026, 10, 19))
    assert read(on_time, date(2026, 11, 30)).light == Light.GREEN
    r = read(late, date(2026, 11, 30))
    assert (r.light, r.overdue_days) == (Light.RED, 2)


def test_closing_on_the_weekend_after_the_due_date_is_not_late():
    f = accepted(date(2026, 11, 2))  # due Monday 2026-11-16
    f = move(f, ClockEffect.EXTEND, date(2026, 11, 3), days=4)  # due Friday 2026-11-20
    closed = move(f, ClockEffect.CLOSE, date(2026, 11, 21))  # Saturday
    r = read(closed, date(2026, 11, 30))
    assert r.overdue_days == 0 and r.light == Light.GREEN


def test_withdrawn_and_not_accepted_have_no_light():
    assert read(Facts(state="draft", phase=Phase.PENDING), date(2026, 11, 2)).light == Light.NONE
    gone = move(accepted(date(2026, 11, 2)), ClockEffect.VOID, date(2026, 11, 3))
    assert read(gone, date(2026, 11, 30)).light == Light.NONE


def test_provisional_when_the_limit_runs_into_an_uncovered_year():
    f = accepted(date(2026, 12, 24))
    r = read(f, date(2026, 12, 24))
    assert r.provisional and r.due_on.year == 2027
    assert not read(accepted(date(2026, 11, 2)), date(2026, 11, 2)).provisional


def test_cached_due_date_is_the_one_before_the_current_pause():
    f = move(accepted(date(2026, 11, 2)), ClockEffect.PAUSE, date(2026, 11, 4))
    assert f.due_base(CAL) == date(2026, 11, 16)
    assert read(f, date(2026, 11, 6)).due_on == date(2026, 11, 19)


def test_suspending_on_the_acceptance_day_pauses_from_the_next_working_day():
    # The acceptance day never counts as elapsed, so it is never counted as paused either.
    f = move(accepted(date(2026, 11, 2)), ClockEffect.PAUSE, date(2026, 11, 2))
    r = read(f, date(2026, 11, 2))
    assert (r.elapsed_days, r.paused_days, r.remaining_days) == (0, 0, 10)
    f = move(f, ClockEffect.RESUME, date(2026, 11, 4))  # Tuesday paused, Wednesday counts
    r = read(f, date(2026, 11, 4))
    assert (r.elapsed_days, r.paused_days, r.remaining_days) == (1, 1, 9)
    assert r.due_on == date(2026, 11, 17)


def test_a_pause_after_the_limit_ran_out_keeps_the_missed_due_date():
    # 1 working day from Monday: due Tuesday. Suspended Wednesday to Monday: the due date stays
    # Tuesday, the first working day on which remaining reached 0 (not a suspended day).
    f = accepted(date(2026, 11, 2), 1)
    f = move(move(f, ClockEffect.PAUSE, date(2026, 11, 4)), ClockEffect.RESUME, date(2026, 11, 9))
    r = read(f, date(2026, 11, 9))
    assert (r.elapsed_days, r.paused_days, r.remaining_days, r.overdue_days) == (2, 3, -1, 1)
    assert r.due_on == date(2026, 11, 3) and r.light == Light.RED
    # an extension after that pause makes the pause count again: it began before the new due date
    f = move(f, ClockEffect.EXTEND, date(2026, 11, 9), days=3)
    assert read(f, date(2026, 11, 9)).due_on == date(2026, 11, 11)


# -- properties ----------------------------------------------------------------------------------

days = st.dates(min_value=date(2024, 1, 1), max_value=date(2026, 10, 31))
limits = st.integers(min_value=1, max_value=60)


@settings(max_examples=300, deadline=None)
@given(start=days, limit=limits, offset=st.integers(0, 120))
def test_due_date_is_never_a_non_working_day(start, limit, offset):
    r = read(accepted(start, limit), start + timedelta(days=offset))
    assert CAL.is_workday(r.due_on)


@settings(max_examples=300, deadline=None)
@given(start=days, limit=limits)
def test_one_more_working_day_of_limit_never_moves_the_due_date_earlier(start, limit):
    a = read(accepted(start, limit), start).due_on
    b = read(accepted(start, limit + 1), start).due_on
    assert b > a


@settings(max_examples=300, deadline=None)
@given(start=days, limit=limits, gap=st.integers(1, 30), length=st.integers(0, 40))
def test_a_pause_of_k_working_days_moves_the_due_date_by_k_working_days(start, limit, gap, length):
    f = accepted(start, limit)
    x = start + timedelta(days=gap)
    y = x + timedelta(days=length)
    paused = move(move(f, ClockEffect.PAUSE, x), ClockEffect.RESUME, y)
    k = paused.paused_days
    assert k == CAL.ordinal(y - timedelta(1)) - CAL.ordinal(x - timedelta(1))
    before = read(f, y).due_on
    after = read(paused, y).due_on
    if x <= before:  # paused before its due date had passed
        assert CAL.ordinal(after) - CAL.ordinal(before) == k
    else:  # a pause after the limit ran out keeps the missed due date
        assert after == before


@settings(max_examples=200, deadline=None)
@given(start=days, limit=limits, gap=st.integers(0, 30), later=st.integers(0, 60))
def test_suspend_and_resume_the_same_day_never_change_the_reading(start, limit, gap, later):
    f = accepted(start, limit)
    x = start + timedelta(days=gap)
    same = move(move(f, ClockEffect.PAUSE, x), ClockEffect.RESUME, x)
    t = x + timedelta(days=later)
    assert read(same, t) == read(f, t)


@settings(max_examples=300, deadline=None)
@given(start=days, limit=limits, offset=st.integers(0, 150))
def test_red_exactly_when_remaining_is_negative(start, limit, offset):
    r = read(accepted(start, limit), start + timedelta(days=offset))
    assert (r.light == Light.RED) == (r.remaining_days < 0)
    assert r.overdue_days == max(0, -r.remaining_days)
    assert r.elapsed_days + r.remaining_days == limit


@pytest.mark.parametrize("percent, limit, expected", [(80, 10, 2), (80, 7, 1), (100, 5, 0),
                                                      (50, 3, 1)])
def test_warn_at_from_elapsed_percent(percent, limit, expected):
    assert WarningRule(elapsed_percent=percent).warn_at(limit) == expected


def test_clock_facts_default_to_not_accepted():
    r = read_clock(ClockFacts(phase=Phase.PENDING), CAL, THREE, date(2026, 1, 5))
    assert r.light == Light.NONE and r.due_on is None
