"""Which notices a day's lights call for, how they are bundled and numbered, and the notice
lifecycle. Pure: callers pass rows and `day`; nothing here reads the clock or the database.

An *episode* of a level is one uninterrupted stretch of the light that triggers it: a permit's
red episode starts the day the sweep first sees it red and ends when it leaves red or closes.
A level is called for once per (permit, level, episode); the database holds that key unique.
An escalation belongs to the episode of the supervision it escalates.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from workflow.domain.lifecycle import Actor, Role
from workflow.errors import InvalidMove, NotAllowed


@dataclass(frozen=True, kw_only=True)
class LevelRule:
    """One escalation level from policy: what triggers it and whom it addresses."""

    name: str
    light: str | None = None  # triggered by this light ...
    after: str | None = None  # ... or by this level's time limit passing
    rectify_within: int | None = None  # working days after the notice day
    to: str = "department"  # department | leader
    bulletin: bool = False
    bundle: bool = True
    channels: tuple[str, ...] = ("file",)


def rules_from_policy(levels: Mapping[str, Any]) -> list[LevelRule]:
    """Build LevelRules from the validated `levels` mapping, light-triggered levels first."""
    rules = [
        LevelRule(
            name=name, light=lv.light, after=lv.after, rectify_within=lv.rectify_within,
            to=lv.to, bulletin=lv.bulletin, bundle=lv.bundle, channels=tuple(lv.channels),
        )
        for name, lv in levels.items()
    ]
    return sorted(rules, key=lambda r: r.after is not None)


@dataclass(frozen=True, kw_only=True)
class Candidate:
    """An open permit or problem that may call for a matter at `level` (from one set-based
    query). Exactly one of `permit_id`, `problem_id` is set."""

    permit_id: int | None
    level: str
    department: str
    leader: str | None
    responsible: str | None
    light: str
    due_on: date | None
    remaining: int | None
    last_episode: int  # highest episode of this level so far (0: none)
    basis_id: int | None = None  # for an escalation: the supervision matter escalated
    basis_episode: int | None = None
    problem_id: int | None = None


@dataclass(frozen=True, kw_only=True)
class Matter:
    permit_id: int | None
    level: str
    episode: int
    department: str
    light: str
    due_on: date | None
    remaining_days: int | None
    overdue_days: int
    time_limit: date | None
    responsible: str | None
    addressee_kind: str
    addressee: str
    basis_id: int | None = None
    problem_id: int | None = None

    @property
    def item(self) -> tuple[int, int]:
        """A sort key that orders permits before problems, then by id."""
        return (0, self.permit_id) if self.permit_id is not None else (1, self.problem_id or 0)


def addressee(rule: LevelRule, department: str, leader: str | None) -> tuple[str, str]:
    """Return (kind, name): the project's leader for a `to: leader` level when one is recorded,
    otherwise the permit's department."""
    if rule.to == "leader" and leader and leader.strip():
        return "leader", leader.strip()
    return "department", department


def matters_for(
    candidates: Iterable[Candidate], rules: Mapping[str, LevelRule], time_limit: date | None
) -> list[Matter]:
    """Turn candidates into matters: the next episode (or the escalated one), the addressee,
    overdue days and the new time limit (`time_limit`, already computed for the level)."""
    out = []
    for c in candidates:
        rule = rules[c.level]
        kind, name = addressee(rule, c.department, c.leader)
        episode = c.basis_episode if rule.after is not None else c.last_episode + 1
        remaining = c.remaining
        out.append(Matter(
            permit_id=c.permit_id, level=c.level, episode=episode, department=c.department,
            light=c.light, due_on=c.due_on, remaining_days=remaining,
            overdue_days=max(0, -remaining) if remaining is not None else 0,
            time_limit=time_limit if rule.rectify_within else None,
            responsible=c.responsible, addressee_kind=kind, addressee=name,
            basis_id=c.basis_id, problem_id=c.problem_id,
        ))
    return out


def bundle_key(rule: LevelRule, kind: str, name: str, item: tuple[int, int]) -> tuple:
    """The notice a matter goes in: one per (level, addressee), permits and problems together,
    or one per matter (`item`) for a level with `bundle: false`."""
    key: tuple = (rule.name, kind, name)
    return key if rule.bundle else key + item


def bundle_order(key: tuple) -> tuple:
    """The order notices are numbered in: level, then addressee (then item)."""
    return tuple(str(p) for p in key)


def bundle(
    matters: Sequence[Matter], rules: Mapping[str, LevelRule]
) -> list[tuple[tuple[str, str, str], list[Matter]]]:
    """Group matters into notices (`bundle_key`). Stable order: level, addressee, then worst
    overdue first."""
    groups: dict[tuple, list[Matter]] = {}
    for m in matters:
        key = bundle_key(rules[m.level], m.addressee_kind, m.addressee, m.item)
        groups.setdefault(key, []).append(m)
    out = []
    for key in sorted(groups, key=bundle_order):
        items = sorted(groups[key], key=lambda m: (-m.overdue_days, m.item))
        out.append(((key[0], key[1], key[2]), items))
    return out


def notice_number(fmt: str, year: int, seq: int) -> str:
    """Format a notice number, e.g. ``督办〔{year}〕第{seq:04d}号`` -> 督办〔2026〕第0007号."""
    return fmt.format(year=year, seq=seq)


# -- the notice lifecycle ----------------------------------------------------------------------

class NoticeStatus(StrEnum):
    ISSUED = "issued"
    ACKNOWLEDGED = "acknowledged"  # 签收
    RESPONDED = "responded"  # 反馈
    CLOSED = "closed"  # 销号


NOTICE_MOVES = {
    "ack": ({NoticeStatus.ISSUED}, NoticeStatus.ACKNOWLEDGED),
    "respond": ({NoticeStatus.ACKNOWLEDGED, NoticeStatus.RESPONDED}, NoticeStatus.RESPONDED),
    "close": ({NoticeStatus.ISSUED, NoticeStatus.ACKNOWLEDGED, NoticeStatus.RESPONDED},
              NoticeStatus.CLOSED),
}


def notice_move(
    status: str, action: str, actor: Actor, *, number: str, addressee_kind: str,
    department: str | None,
) -> NoticeStatus:
    """Return the status after `action` by `actor`, or refuse.

    Acknowledge and respond: the addressed department (a leader's notice: the supervision office
    records it on the leader's behalf); close: a supervisor. An admin may do all. A response may
    be amended until the notice is closed.
    """
    if action not in NOTICE_MOVES:
        raise InvalidMove(f"unknown notice action {action!r}")
    if actor.role == Role.VIEWER:
        raise NotAllowed(f"{actor.name} (viewer) may not {action} notice {number}")
    if actor.role != Role.ADMIN:
        if action == "close":
            if actor.role != Role.SUPERVISOR:
                raise NotAllowed(
                    f"{actor.name} ({actor.role.value}) may not close notice {number}: "
                    "only the supervision office closes notices"
                )
        elif addressee_kind == "department":
            if actor.role != Role.DEPARTMENT or actor.department != department:
                raise NotAllowed(
                    f"{actor.name} may not {action} notice {number}: it is addressed to "
                    f"department {department}"
                )
        elif actor.role != Role.SUPERVISOR:
            raise NotAllowed(
                f"{actor.name} may not {action} notice {number}: a leader's notice is "
                "recorded by the supervision office"
            )
    sources, dest = NOTICE_MOVES[action]
    if NoticeStatus(status) not in sources:
        raise InvalidMove(f"notice {number} is {status}: cannot {action} it")
    return dest


# -- delivery timing ---------------------------------------------------------------------------

def backoff(attempts: int, *, first_seconds: float, factor: float, max_seconds: float) -> timedelta:
    """Wait before the next try after `attempts` failures: first, first*factor, ... capped."""
    return timedelta(seconds=min(max_seconds, first_seconds * factor ** max(0, attempts - 1)))


def rate_allows(recent: Sequence[datetime], now: datetime, per_minute: int) -> bool:
    """True if one more send at `now` keeps every 60-second window within `per_minute`.

    `recent` are the earlier sends; only those after ``now - 60 s`` count, so any window of a
    minute holds at most `per_minute` sends.
    """
    start = now - timedelta(seconds=60)
    return sum(1 for t in recent if t > start) < per_minute
