"""Demo data: turn a small campaign description (seeds/campaign.yaml) into projects, permits,
problems and event histories that the lifecycles would have produced.

Two steps. `plan()` is pure and deterministic: from the description, the policy, the calendar,
a number of projects and a random seed it draws every project and every permit's moves (event,
effective date, actor, reason), then the problems raised about the projects and their moves
(from a random stream of their own), all cut at the demo day. `apply()` writes a plan into an
initialised database, day by day: that day's moves and problems, then the daily sweep of that
day, so light changes and anything hooked onto the sweep (notices) have a history too.

`apply()` writes the moves in bulk, but exactly as `permits.advance` and `problems.advance`
would: every move is checked by the lifecycle (roles, sources, prerequisites) and folded with
the same functions (`apply_move`, `cached_fields`, `make_event`), so every row equals its
rebuild. `apply(..., via="library")` instead calls `projects.add`, `permits.add`,
`permits.advance`, `problems.add` and `problems.advance` one move at a time; it is slower and
serves the test that both paths give the same rows.
"""

from __future__ import annotations

import dataclasses
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from workflow.app import App
from workflow.domain.calendar import Calendar
from workflow.errors import BadData
from workflow.policy import Policy

DEMO_META_KEY = "demo_seed"  # marks a database as a demo: `workflow demo` may recreate it
OUTCOMES = ("on_time", "late", "suspended", "extended", "rejected", "withdrawn")
PROBLEM_OUTCOMES = ("on_time", "late", "extended", "suspended", "reopened", "withdrawn")
SWEEP_ACTOR = "sweep"


# -- the description -------------------------------------------------------------------------

class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class City(_Strict):
    zh: str
    en: str
    region_code: str


class CampaignSpec(_Strict):
    name: str
    starts_on: date
    ends_on: date
    joins_within: int = Field(default=10, ge=0)


class Area(_Strict):
    name: str
    park: str | None = None
    code: str
    weight: float = Field(gt=0)
    leader: str
    contact: str


class Kind(_Strict):
    weight: float = Field(gt=0)
    industry: str
    names: list[str] = Field(min_length=1)
    companies: list[str] = Field(min_length=1)
    products: list[str] = Field(min_length=1)
    capacities: list[str] = Field(min_length=1)
    investment: tuple[float, float]
    level: str
    levels: dict[str, str] = {}
    waive: dict[str, float] = {}


class DepartmentSpec(_Strict):
    actor: str
    responsible: str


class Reasons(_Strict):
    suspend: list[str] = Field(min_length=1)
    extend: list[str] = Field(min_length=1)
    reject: list[str] = Field(min_length=1)
    withdraw: list[str] = Field(min_length=1)
    waive: dict[str, str]


class ProblemCategory(_Strict):
    weight: float = Field(gt=0)
    owner: str
    texts: list[str] = Field(min_length=1)


class ProblemReasons(_Strict):
    suspend: list[str] = Field(min_length=1)
    extend: list[str] = Field(min_length=1)
    reopen: list[str] = Field(min_length=1)
    withdraw: list[str] = Field(min_length=1)


class ProblemsSpec(_Strict):
    """How many problems the campaign's projects have and how they end (campaign.yaml)."""

    projects_share: float = Field(ge=0, le=1)
    per_project: tuple[int, int]
    raised_within: tuple[int, int]
    days: tuple[int, int]
    coordinate_share: float = Field(ge=0, le=1)
    strike_off_share: float = Field(ge=0, le=1)
    strike_off_within: tuple[int, int]
    late_by: tuple[int, int]
    extend_days: tuple[int, int]
    suspension_days: tuple[int, int]
    reopen_after: tuple[int, int]
    outcomes: dict[str, float]
    categories: dict[str, ProblemCategory] = Field(min_length=1)
    reasons: ProblemReasons

    @model_validator(mode="after")
    def _check(self) -> ProblemsSpec:
        unknown = set(self.outcomes) - set(PROBLEM_OUTCOMES)
        if unknown:
            raise ValueError(f"outcomes: unknown {sorted(unknown)} "
                             f"(known: {list(PROBLEM_OUTCOMES)})")
        if abs(sum(self.outcomes.values()) - 1) > 1e-6:
            raise ValueError("outcomes: shares must sum to 1")
        for name in ("per_project", "raised_within", "days", "strike_off_within", "late_by",
                     "extend_days", "suspension_days", "reopen_after"):
            low, high = getattr(self, name)
            if not 0 <= low <= high:
                raise ValueError(f"{name}: expected [low, high] with 0 <= low <= high")
        if self.days[0] < 1:
            raise ValueError("days: a promised limit is at least one working day")
        return self


class Description(_Strict):
    city: City
    campaign: CampaignSpec
    demo_day: date
    projects: int = Field(gt=0)
    seed: int
    areas: list[Area] = Field(min_length=1)
    kinds: dict[str, Kind] = Field(min_length=1)
    planned_start: tuple[date, date]
    departments: dict[str, DepartmentSpec]
    supervisor: str
    viewer: str
    preparation: dict[str, tuple[int, int]]
    preparing_share: float = Field(ge=0, le=1)
    outcomes: dict[str, float]
    suspension_days: tuple[int, int]
    late_by: tuple[int, int] = (1, 10)
    reasons: Reasons
    problems: ProblemsSpec | None = None  # none: the campaign tracks permits only

    @model_validator(mode="after")
    def _check(self) -> Description:
        unknown = set(self.outcomes) - set(OUTCOMES)
        if unknown:
            raise ValueError(f"outcomes: unknown {sorted(unknown)} (known: {list(OUTCOMES)})")
        if abs(sum(self.outcomes.values()) - 1) > 1e-6:
            raise ValueError("outcomes: shares must sum to 1")
        if "default" not in self.preparation:
            raise ValueError("preparation: needs a `default` range")
        if not self.campaign.starts_on <= self.demo_day:
            raise ValueError("demo_day: must not be before campaign.starts_on")
        return self


MAX_PROJECTS = 1_000_000  # a demo or benchmark ledger; more is a typo

def default_description_path() -> Path:
    """seeds/campaign.yaml, shipped in the wheel as workflow/seeds (or the checkout's)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "seeds", here.parent / "seeds"):
        if (candidate / "campaign.yaml").is_file():
            return candidate / "campaign.yaml"
    raise BadData("no seeds/campaign.yaml found: pass a description file")


def load_description(path: Path | None = None) -> Description:
    """Read and validate a campaign description; errors name the file and the key."""
    path = path or default_description_path()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise BadData(f"{path}: {e}") from None
    try:
        return Description.model_validate(raw)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top)"
        raise BadData(f"{path.name}: {where}: {first['msg']}") from None


def check_against_policy(desc: Description, policy: Policy) -> None:
    """Refuse a description that names departments, types or levels the policy lacks."""
    missing = set(policy.departments) - set(desc.departments)
    if missing:
        raise BadData(f"campaign: departments: no clerk for {sorted(missing)}")
    for name, kind in desc.kinds.items():
        for t in [*kind.levels, *kind.waive]:
            if t not in policy.permit_types:
                raise BadData(f"campaign: kinds.{name}: unknown permit type {t!r}")
    if desc.problems is not None:
        rules = policy.problems
        for name, cat in desc.problems.categories.items():
            if name not in rules.categories:
                raise BadData(f"campaign: problems.categories: unknown category {name!r} "
                              f"(policy: {', '.join(rules.categories)})")
            if cat.owner not in policy.departments:
                raise BadData(f"campaign: problems.categories.{name}: unknown owner "
                              f"{cat.owner!r}")
        if desc.problems.extend_days[1] > rules.max_extension_days:
            raise BadData(f"campaign: problems.extend_days: more than the policy's "
                          f"max_extension_days ({rules.max_extension_days})")


# -- the plan ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Move:
    on: date
    event: str
    actor: str
    reason: str | None = None
    days: int | None = None


@dataclass
class PermitPlan:
    type: str
    level: str
    responsible: str
    created_on: date
    moves: list[Move] = field(default_factory=list)


@dataclass
class ProjectPlan:
    code: str
    name: str
    kind: str
    district: str
    park: str | None
    investment: float
    planned_start: date
    leader: str
    contact: str
    permits: list[PermitPlan] = field(default_factory=list)


@dataclass
class ProblemPlan:
    project: str  # the project's code
    category: str
    owner: str
    text: str
    responsible: str
    raised_on: date
    days: int
    moves: list[Move] = field(default_factory=list)


@dataclass
class Plan:
    description: Description
    seed: int
    demo_day: date
    projects: list[ProjectPlan]
    problems: list[ProblemPlan] = field(default_factory=list)  # in the order they are raised

    def moves(self) -> int:
        return sum(len(p.moves) for pr in self.projects for p in pr.permits)

    def problem_moves(self) -> int:
        return sum(len(q.moves) for q in self.problems)


def _workdays(cal: Calendar, start: date, n: int) -> date:
    """The n-th working day after `start` (n <= 0: `start` itself)."""
    return cal.add_workdays(start, n) if n > 0 else start


def plan(
    desc: Description, policy: Policy, cal: Calendar, *, projects: int | None = None,
    seed: int | None = None,
) -> Plan:
    """Draw every project and permit history of the campaign; same inputs, same plan."""
    check_against_policy(desc, policy)
    seed = desc.seed if seed is None else seed
    count = desc.projects if projects is None else projects
    if not 1 <= count <= MAX_PROJECTS:
        # an unbounded count would draw (and hold in memory) projects until the machine gives up
        raise BadData(f"--projects must be a positive integer up to {MAX_PROJECTS}")
    rng = random.Random(seed)
    order = policy.type_order()
    kinds = list(desc.kinds.items())
    start, demo_day = desc.campaign.starts_on, desc.demo_day
    first_start, last_start = desc.planned_start
    serials: dict[str, int] = defaultdict(int)
    out = []
    for _ in range(count):
        area = rng.choices(desc.areas, weights=[a.weight for a in desc.areas])[0]
        kind_name, kind = rng.choices(kinds, weights=[k.weight for _, k in kinds])[0]
        serials[area.code] += 1
        code = (f"{start.year}-{area.code}-{kind.industry}-03-"
                f"{serials[area.code] * 7919 % 1_000_000:06d}")
        name = rng.choice(kind.names).format(
            company=rng.choice(kind.companies), product=rng.choice(kind.products),
            capacity=rng.choice(kind.capacities),
        )
        low, high = kind.investment
        investment = round(rng.uniform(low, high) / 100) * 100
        planned = first_start + timedelta(days=rng.randint(0, (last_start - first_start).days))
        joined = min(_workdays(cal, start, rng.randint(0, desc.campaign.joins_within)), demo_day)
        project = ProjectPlan(
            code=code, name=name, kind=kind_name, district=area.name, park=area.park,
            investment=investment, planned_start=planned, leader=area.leader,
            contact=area.contact,
        )
        granted_on: dict[str, date | None] = {}  # None: never granted (within the plan)
        for type_code in order:
            ptype = policy.permit_types[type_code]
            level = kind.levels.get(type_code, kind.level)
            if level not in ptype.promised_days:
                level = next(iter(ptype.promised_days))
            dept = desc.departments[ptype.department]
            permit = PermitPlan(type=type_code, level=level, responsible=dept.responsible,
                                created_on=joined)
            granted_on[type_code] = _permit_moves(
                rng, desc, cal, permit, ptype.promised_days[level], ptype.max_extension_days,
                dept.actor, joined, [granted_on.get(p, "void") for p in ptype.prerequisites],
                kind.waive.get(type_code, 0.0),
            )
            permit.moves = [m for m in permit.moves if m.on <= demo_day]
            project.permits.append(permit)
        out.append(project)
    out.sort(key=lambda p: p.code)
    problems = _plan_problems(desc, cal, out, seed) if desc.problems else []
    return Plan(description=desc, seed=seed, demo_day=demo_day, projects=out, problems=problems)


def _permit_moves(rng, desc, cal, permit, promised, max_ext, clerk, joined, prereqs, waive_p):
    """Fill `permit.moves`; return the day it is granted, "void" if waived, None if never."""
    moves = permit.moves
    if rng.random() < waive_p:
        reasons = desc.reasons.waive
        moves.append(Move(_workdays(cal, joined, rng.randint(0, 5)), "waive", desc.supervisor,
                          reasons.get(permit.type, reasons.get("default", "无需办理"))))
        return "void"
    if any(p is None for p in prereqs):
        return None  # a prerequisite was refused or withdrawn: this one waits for ever
    ready = max([joined, *(p for p in prereqs if isinstance(p, date))])
    low, high = desc.preparation.get(permit.type, desc.preparation["default"])
    accepted = _workdays(cal, ready, rng.randint(max(low, 1), max(high, 1)))
    if rng.random() < desc.preparing_share:
        moves.append(Move(_workdays(cal, ready, rng.randint(0, max(low - 1, 0))), "prepare",
                          clerk))
    moves.append(Move(accepted, "accept", clerk))
    outcome = rng.choices(OUTCOMES, weights=[desc.outcomes.get(o, 0) for o in OUTCOMES])[0]
    if outcome == "extended" and max_ext == 0:
        outcome = "on_time"  # this permit type allows no extension
    if outcome == "on_time":
        done = _workdays(cal, accepted, rng.randint(max(1, promised * 3 // 10), promised))
        moves.append(Move(done, "approve", clerk))
        return done
    if outcome == "late":
        done = _workdays(cal, accepted, promised + rng.randint(*desc.late_by))
        moves.append(Move(done, "approve", clerk))
        return done
    if outcome == "suspended":
        used = rng.randint(1, max(1, promised - 1))
        suspended = _workdays(cal, accepted, used)
        resumed = _workdays(cal, suspended, rng.randint(*desc.suspension_days))
        done = _workdays(cal, resumed, rng.randint(1, max(1, promised - used)))
        moves += [Move(suspended, "suspend", clerk, rng.choice(desc.reasons.suspend)),
                  Move(resumed, "resume", clerk), Move(done, "approve", clerk)]
        return done
    if outcome == "extended":
        days = rng.randint(min(3, max_ext), max_ext)
        extended = _workdays(cal, accepted, rng.randint(1, max(1, promised - 1)))
        done = _workdays(cal, accepted, promised + rng.randint(1, days))
        moves += [Move(extended, "extend", clerk, rng.choice(desc.reasons.extend), days),
                  Move(done, "approve", clerk)]
        return done
    if outcome == "rejected":
        moves.append(Move(_workdays(cal, accepted, rng.randint(max(1, promised // 2), promised)),
                          "reject", clerk, rng.choice(desc.reasons.reject)))
        return None
    moves.append(Move(_workdays(cal, accepted, rng.randint(1, promised)), "withdraw", clerk,
                      rng.choice(desc.reasons.withdraw)))
    return None


def _plan_problems(
    desc: Description, cal: Calendar, projects: list[ProjectPlan], seed: int
) -> list[ProblemPlan]:
    """Draw the problems of the projects, in the order they are raised (then by project code).

    They come from a random stream of their own, so adding problems to a description leaves
    its projects and permits exactly as they were.
    """
    spec = desc.problems
    assert spec is not None
    rng = random.Random(f"{seed}/problems")
    cats = list(spec.categories.items())
    out = []
    for pr in projects:
        if rng.random() >= spec.projects_share:
            continue
        joined = pr.permits[0].created_on if pr.permits else desc.campaign.starts_on
        for _ in range(rng.randint(*spec.per_project)):
            name, cat = rng.choices(cats, weights=[c.weight for _, c in cats])[0]
            raised = _workdays(cal, joined, rng.randint(*spec.raised_within))
            q = ProblemPlan(
                project=pr.code, category=name, owner=cat.owner, text=rng.choice(cat.texts),
                responsible=desc.departments[cat.owner].responsible, raised_on=raised,
                days=rng.randint(*spec.days),
            )
            _problem_moves(rng, desc, cal, q)
            if raised <= desc.demo_day:  # raised after the demo day: not yet
                q.moves = [m for m in q.moves if m.on <= desc.demo_day]
                out.append(q)
    out.sort(key=lambda q: q.raised_on)  # stable: same day, project code order
    return out


def _problem_moves(rng, desc: Description, cal: Calendar, q: ProblemPlan) -> None:
    """Fill `q.moves` with one outcome's moves, all on or after the day it was raised."""
    spec = desc.problems
    office, clerk = desc.supervisor, desc.departments[q.owner].actor
    raised, limit = q.raised_on, q.days
    moves = q.moves
    if rng.random() < spec.coordinate_share:
        moves.append(Move(_workdays(cal, raised, rng.randint(0, 1)), "coordinate", clerk))

    def at(n: int) -> date:  # n working days after the day it was raised (never before a move)
        day = _workdays(cal, raised, n)
        return max(day, moves[-1].on) if moves else day

    def resolve_within(start: int, days: int) -> None:
        moves.append(Move(at(start + rng.randint(max(1, days * 3 // 10), max(1, days))),
                          "resolve", clerk))

    outcome = rng.choices(PROBLEM_OUTCOMES,
                          weights=[spec.outcomes.get(o, 0) for o in PROBLEM_OUTCOMES])[0]
    if outcome == "on_time":
        resolve_within(0, limit)
    elif outcome == "late":
        moves.append(Move(at(limit + rng.randint(*spec.late_by)), "resolve", clerk))
    elif outcome == "extended":
        used = rng.randint(1, max(1, limit - 1))
        days = rng.randint(*spec.extend_days)
        moves.append(Move(at(used), "extend", office, rng.choice(spec.reasons.extend), days))
        moves.append(Move(at(limit + rng.randint(1, days)), "resolve", clerk))
    elif outcome == "suspended":
        used = rng.randint(1, max(1, limit - 1))
        paused = rng.randint(*spec.suspension_days)
        moves.append(Move(at(used), "suspend", office, rng.choice(spec.reasons.suspend)))
        moves.append(Move(at(used + paused), "resume", office))
        resolve_within(used + paused, limit - used)
    elif outcome == "reopened":
        resolve_within(0, limit)
        back = _workdays(cal, moves[-1].on, rng.randint(*spec.reopen_after))
        moves.append(Move(back, "reopen", office, rng.choice(spec.reasons.reopen)))
        moves.append(Move(_workdays(cal, back, rng.randint(1, max(1, limit // 2))), "resolve",
                          clerk))
    else:
        moves.append(Move(at(rng.randint(1, limit)), "withdraw", office,
                          rng.choice(spec.reasons.withdraw)))
        return
    if rng.random() < spec.strike_off_share:
        moves.append(Move(_workdays(cal, moves[-1].on, rng.randint(*spec.strike_off_within)),
                          "close", office))


# -- writing a plan ----------------------------------------------------------------------------

def seed(
    app: App, *, projects: int | None = None, seed: int | None = None,
    description: Path | None = None, via: str = "bulk",
) -> dict[str, Any]:
    """Plan the campaign and write it into `app`'s initialised database; return counts."""
    desc = load_description(description)
    the_plan = plan(desc, app.policy, app.calendar, projects=projects, seed=seed)
    return apply(app, the_plan, via=via)


def apply(app: App, the_plan: Plan, *, via: str = "bulk") -> dict[str, Any]:
    """Write actors, the campaign, projects and permits, then replay every day's moves, the
    problems raised and moved that day, and its sweep.

    The database must be initialised and hold no projects yet. `via="library"` goes through
    `permits.advance` move by move (slow; for tests).
    """
    import sqlalchemy as sa

    from workflow.store.calendar_table import set_meta
    from workflow.store.models import Project

    if via not in ("bulk", "library"):
        raise BadData(f"unknown seeding path {via!r}")
    with app.db.connect() as conn:
        if conn.execute(sa.select(sa.func.count()).select_from(Project.__table__)).scalar():
            raise BadData("the database already holds projects: seed an empty database")
    desc = the_plan.description
    _add_actors(app, desc)
    writer = _BulkWriter(app, the_plan) if via == "bulk" else _LibraryWriter(app, the_plan)
    writer.register()
    by_day: dict[date, list[tuple[ProjectPlan, PermitPlan, Move]]] = defaultdict(list)
    for pr in the_plan.projects:
        for p in pr.permits:
            for m in p.moves:
                by_day[m.on].append((pr, p, m))
    # problems: raised on their day, then moved (a problem raised and coordinated the same day)
    raised: dict[date, list[int]] = defaultdict(list)
    problem_moves: dict[date, list[tuple[int, Move]]] = defaultdict(list)
    for i, q in enumerate(the_plan.problems):
        raised[q.raised_on].append(i)
        for m in q.moves:
            problem_moves[m.on].append((i, m))
    cal = app.calendar
    day, sweeps = desc.campaign.starts_on, 0
    while day <= the_plan.demo_day:
        if by_day.get(day):
            writer.moves(day, by_day[day])
        if raised.get(day):
            writer.raise_problems(day, raised[day])
        if problem_moves.get(day):
            writer.problem_moves(day, problem_moves[day])
        if cal.is_workday(day) or day == the_plan.demo_day:
            from workflow.sweep import sweep

            sweep(app, day=day, actor=SWEEP_ACTOR)
            sweeps += 1
        day += timedelta(days=1)
    with app.db.connect(write=True) as conn:
        set_meta(conn, DEMO_META_KEY, f"{the_plan.seed}:{len(the_plan.projects)}")
    return {
        "projects": len(the_plan.projects),
        "permits": sum(len(pr.permits) for pr in the_plan.projects),
        "moves": the_plan.moves(), "problems": len(the_plan.problems),
        "problem_moves": the_plan.problem_moves(), "sweeps": sweeps, "seed": the_plan.seed,
        "demo_day": the_plan.demo_day.isoformat(), "campaign": desc.campaign.name,
    }


def _as(app: App, actor: str, today: date) -> App:
    """The same App (policy, calendar, engine) acting as `actor` on `today`."""
    clone = App.__new__(App)
    clone.__dict__.update(app.__dict__)
    clone.settings = dataclasses.replace(app.settings, actor=actor, today=today)
    return clone


def _add_actors(app: App, desc: Description) -> None:
    from workflow import actors

    admin = _as(app, actors.ADMIN, app.today())
    for code, dept in desc.departments.items():
        actors.add(admin, dept.actor, "department", code)
    actors.add(admin, desc.supervisor, "supervisor")
    actors.add(admin, desc.viewer, "viewer")


class _LibraryWriter:
    """Every project, permit and move through the library functions a user's commands call."""

    def __init__(self, app: App, the_plan: Plan):
        self.app, self.plan = app, the_plan
        self.problem_ids: dict[int, int] = {}  # index in the plan -> problem id

    def register(self) -> None:
        from workflow import permits, projects
        from workflow.store.models import Campaign

        desc = self.plan.description
        camp = desc.campaign
        for pr in self.plan.projects:
            app = _as(self.app, desc.supervisor, pr.permits[0].created_on)
            projects.add(app, pr.code, name=pr.name, district=pr.district, park=pr.park,
                         investment=pr.investment, planned_start=pr.planned_start,
                         leader=pr.leader, contact=pr.contact, campaigns=(camp.name,))
            for p in pr.permits:
                permits.add(app, pr.code, p.type, level=p.level, responsible=p.responsible)
        with self.app.db.connect(write=True) as conn:
            t = Campaign.__table__
            conn.execute(t.update().where(t.c.name == camp.name).values(
                starts_on=camp.starts_on, ends_on=camp.ends_on))

    def moves(self, day: date, moves) -> None:
        from workflow import permits

        for pr, p, m in moves:
            permits.advance(_as(self.app, m.actor, day), f"{pr.code}/{p.type}", m.event, on=m.on,
                            reason=m.reason, days=m.days)

    def raise_problems(self, day: date, indexes: list[int]) -> None:
        from workflow import problems

        app = _as(self.app, self.plan.description.supervisor, day)
        for i in indexes:
            q = self.plan.problems[i]
            self.problem_ids[i] = problems.add(
                app, q.project, category=q.category, owner=q.owner, text=q.text, days=q.days,
                responsible=q.responsible, on=q.raised_on,
            )["id"]

    def problem_moves(self, day: date, moves: list[tuple[int, Move]]) -> None:
        from workflow import problems

        for i, m in moves:
            problems.advance(_as(self.app, m.actor, day), self.problem_ids[i], m.event, on=m.on,
                             reason=m.reason, days=m.days)


class _BulkWriter:
    """The same rows and events as the library writes, in a few statements per day."""

    def __init__(self, app: App, the_plan: Plan):
        self.app, self.plan = app, the_plan
        self.facts: dict[int, Any] = {}
        self.ids: dict[tuple[str, str], int] = {}
        self.actors: dict[str, Any] = {}
        self.projects: dict[str, int] = {}  # project code -> id
        self.problem_ids: dict[int, int] = {}  # index in the plan -> problem id
        self.problem_facts: dict[int, Any] = {}  # problem id -> its folded facts

    def register(self) -> None:
        import sqlalchemy as sa

        from workflow.domain.clock import Light, Phase
        from workflow.domain.lifecycle import Actor, Role
        from workflow.domain.projection import Facts
        from workflow.store.events import event_t, make_event, permit_t
        from workflow.store.models import Actor as ActorRow
        from workflow.store.models import Campaign, Project, ProjectCampaign, utcnow

        app, desc = self.app, self.plan.description
        lifecycle = app.policy.lifecycle
        initial = lifecycle.initial
        now = utcnow()
        with app.db.connect(write=True) as conn:
            for r in conn.execute(sa.select(ActorRow.__table__)):
                self.actors[r.name] = Actor(name=r.name, role=Role(r.role),
                                            department=r.department)
            supervisor = self.actors[desc.supervisor]
            camp = desc.campaign
            cid = conn.execute(Campaign.__table__.insert().values(
                name=camp.name, starts_on=camp.starts_on, ends_on=camp.ends_on,
            )).inserted_primary_key[0]
            project_t = Project.__table__
            conn.execute(project_t.insert(), [
                {"code": pr.code, "name": pr.name, "district": pr.district, "park": pr.park,
                 "investment": pr.investment, "planned_start": pr.planned_start,
                 "leader": pr.leader, "contact": pr.contact, "created_at": now}
                for pr in self.plan.projects
            ])
            pids = dict(conn.execute(sa.select(project_t.c.code, project_t.c.id)).all())
            self.projects = pids
            conn.execute(ProjectCampaign.__table__.insert(), [
                {"project_id": pids[pr.code], "campaign_id": cid} for pr in self.plan.projects
            ])
            types = app.policy.permit_types
            conn.execute(permit_t.insert(), [
                {"project_id": pids[pr.code], "type": p.type,
                 "department": types[p.type].department, "level": p.level,
                 "responsible": p.responsible, "state": initial, "phase": Phase.PENDING.value,
                 "promised_override": None, "extension_days": 0, "paused_days": 0,
                 "light": Light.NONE.value, "version": 0, "head_hash": "", "created_at": now}
                for pr in self.plan.projects for p in pr.permits
            ])
            codes = {v: k for k, v in pids.items()}
            for pid, type_, id_ in conn.execute(
                sa.select(permit_t.c.project_id, permit_t.c.type, permit_t.c.id)
            ):
                self.ids[(codes[pid], type_)] = id_
            events, heads = [], []
            for pr in self.plan.projects:
                for p in pr.permits:
                    id_ = self.ids[(pr.code, p.type)]
                    ev = make_event(
                        permit_id=id_, seq=1, prev_hash="", kind="create", event="create",
                        on=p.created_on, actor=supervisor.name,
                        data={"type": p.type, "level": p.level, "state": initial,
                              "promised_override": None, "responsible": p.responsible},
                        recorded_at=now,
                    )
                    events.append(ev)
                    heads.append({"b_id": id_, "b_hash": ev["hash"]})
                    self.facts[id_] = Facts(state=initial, phase=lifecycle.phase(initial))
            conn.execute(event_t.insert(), events)
            conn.execute(sa.text("UPDATE permit SET version = 1, head_hash = :b_hash "
                                 "WHERE id = :b_id"), heads)

    def moves(self, day: date, moves) -> None:
        import sqlalchemy as sa

        from workflow.domain.lifecycle import ClockEffect, MoveRequest
        from workflow.domain.projection import apply_move, move_data
        from workflow.permits import cached_fields
        from workflow.store.events import event_t, make_event, permit_t
        from workflow.store.models import utcnow

        app = self.app
        policy, cal = app.policy, app.calendar
        lifecycle = policy.lifecycle
        now = utcnow()
        ids = {self.ids[(pr.code, p.type)] for pr, p, _ in moves}
        with app.db.connect(write=True) as conn:
            rows = {
                r.id: r for r in conn.execute(
                    sa.select(permit_t.c.id, permit_t.c.version, permit_t.c.head_hash,
                              permit_t.c.light_on).where(permit_t.c.id.in_(ids))
                )
            }
            heads = {i: (rows[i].version, rows[i].head_hash, rows[i].light_on) for i in ids}
            values_by_id: dict[int, dict] = {}
            events = []
            for pr, p, m in moves:
                id_ = self.ids[(pr.code, p.type)]
                ref = f"{pr.code}/{p.type}"
                ptype = policy.permit_type(p.type)
                spec = lifecycle.events[m.event]
                facts = self.facts[id_]
                unmet = ()
                if spec.prerequisites:
                    unmet = tuple(self._unmet(pr, ptype))
                request = MoveRequest(
                    ref=ref, department=ptype.department, actor=self.actors[m.actor],
                    reason=m.reason, days=m.days, unmet_prerequisites=unmet,
                    extension_days=facts.extension_days,
                    max_extension_days=ptype.max_extension_days,
                )
                old_state = facts.state
                new_state = lifecycle.move(old_state, m.event, request)
                promised = ptype.promised_days[p.level] if spec.clock == ClockEffect.START else None
                facts = apply_move(facts, cal=cal, effect=spec.clock, state=new_state,
                                   phase=lifecycle.phase(new_state), on=m.on, days=m.days,
                                   promised_days=promised)
                self.facts[id_] = facts
                version, head, light_on = heads[id_]
                light_on = max(m.on, light_on) if light_on else m.on
                data = move_data(old_state, new_state, spec.clock, facts.phase, days=m.days,
                                 promised_days=promised)
                ev = make_event(
                    permit_id=id_, seq=version + 1, prev_hash=head, kind="move", event=m.event,
                    on=m.on, actor=m.actor, reason=m.reason, data=data, recorded_at=now,
                )
                events.append(ev)
                heads[id_] = (ev["seq"], ev["hash"], light_on)
                values_by_id[id_] = {**cached_fields(facts, ptype, cal, light_on),
                                     "version": ev["seq"], "head_hash": ev["hash"]}
            _write_day(conn, permit_t, event_t, values_by_id, events)

    def _unmet(self, pr: ProjectPlan, ptype) -> list[str]:
        """Prerequisites of the same project not yet granted, as `permits.advance` finds them."""
        from workflow.permits import unmet_among

        ids = ((t, self.ids.get((pr.code, t))) for t in ptype.prerequisites)
        return unmet_among(((t, self.facts[i].state) for t, i in ids if i is not None),
                           self.app.policy)

    def raise_problems(self, day: date, indexes: list[int]) -> None:
        """Raise the day's problems as `problems.add` does, in a few statements."""
        import sqlalchemy as sa

        from workflow.domain.clock import Phase
        from workflow.domain.lifecycle import ClockEffect
        from workflow.domain.projection import Facts, apply_move
        from workflow.problems import SUBJECT, _cached, problem_event_t, problem_t
        from workflow.store.events import make_event
        from workflow.store.models import utcnow

        app, desc = self.app, self.plan.description
        rules, cal = app.policy.problems, app.calendar
        lifecycle = rules.lifecycle
        initial = lifecycle.initial
        now = utcnow()
        plans = [self.plan.problems[i] for i in indexes]
        facts = [apply_move(
            Facts(state=initial, phase=Phase.PENDING), cal=cal, effect=ClockEffect.START,
            state=initial, phase=lifecycle.phase(initial), on=q.raised_on, promised_days=q.days,
        ) for q in plans]
        with app.db.connect(write=True) as conn:
            # ids in the order raised, as one problems.add after another numbers them
            ids = conn.execute(
                problem_t.insert().returning(problem_t.c.id, sort_by_parameter_order=True),
                [{"project_id": self.projects[q.project], "category": q.category,
                  "department": q.owner, "responsible": q.responsible, "description": q.text,
                  "promised_by": None, **_cached(f, rules, cal, q.raised_on), "version": 1,
                  "head_hash": "", "created_at": now} for q, f in zip(plans, facts, strict=True)],
            ).scalars().all()
            events = [make_event(
                permit_id=id_, seq=1, prev_hash="", kind="create", event="raise", on=q.raised_on,
                actor=desc.supervisor, subject_column=SUBJECT, recorded_at=now,
                data={"project": q.project, "category": q.category, "department": q.owner,
                      "state": initial, "promised_days": q.days, "promised_by": None,
                      "responsible": q.responsible, "text": q.text},
            ) for id_, q in zip(ids, plans, strict=True)]
            conn.execute(problem_event_t.insert(), events)
            conn.execute(sa.text("UPDATE problem SET head_hash = :b_hash WHERE id = :b_id"),
                         [{"b_id": e["problem_id"], "b_hash": e["hash"]} for e in events])
        for i, id_, f in zip(indexes, ids, facts, strict=True):
            self.problem_ids[i] = id_
            self.problem_facts[id_] = f

    def problem_moves(self, day: date, moves: list[tuple[int, Move]]) -> None:
        """The day's problem moves, checked and folded as `problems.advance` does them."""
        import sqlalchemy as sa

        from workflow.domain.lifecycle import MoveRequest
        from workflow.domain.projection import apply_move, move_data
        from workflow.problems import SUBJECT, _cached, problem_event_t, problem_t
        from workflow.store.events import make_event
        from workflow.store.models import utcnow

        app = self.app
        rules, cal = app.policy.problems, app.calendar
        lifecycle = rules.lifecycle
        now = utcnow()
        ids = {self.problem_ids[i] for i, _ in moves}
        with app.db.connect(write=True) as conn:
            # the sweep may have logged a light since the last move: read the heads
            heads = {
                r.id: (r.version, r.head_hash, r.light_on) for r in conn.execute(
                    sa.select(problem_t.c.id, problem_t.c.version, problem_t.c.head_hash,
                              problem_t.c.light_on).where(problem_t.c.id.in_(ids))
                )
            }
            events, values_by_id = [], {}
            for i, m in moves:
                id_ = self.problem_ids[i]
                q = self.plan.problems[i]
                spec = lifecycle.events[m.event]
                facts = self.problem_facts[id_]
                request = MoveRequest(
                    ref=f"problem Q{id_}", department=q.owner, actor=self.actors[m.actor],
                    reason=m.reason, days=m.days, extension_days=facts.extension_days,
                    max_extension_days=rules.max_extension_days,
                )
                old_state = facts.state
                new_state = lifecycle.move(old_state, m.event, request)
                facts = apply_move(facts, cal=cal, effect=spec.clock, state=new_state,
                                   phase=lifecycle.phase(new_state), on=m.on, days=m.days)
                self.problem_facts[id_] = facts
                version, head, light_on = heads[id_]
                light_on = max(m.on, light_on) if light_on else m.on
                data = move_data(old_state, new_state, spec.clock, facts.phase, days=m.days)
                ev = make_event(
                    permit_id=id_, seq=version + 1, prev_hash=head, kind="move", event=m.event,
                    on=m.on, actor=m.actor, reason=(m.reason or "").strip() or None, data=data,
                    recorded_at=now, subject_column=SUBJECT,
                )
                events.append(ev)
                heads[id_] = (ev["seq"], ev["hash"], light_on)
                values_by_id[id_] = {**_cached(facts, rules, cal, light_on),
                                     "version": ev["seq"], "head_hash": ev["hash"]}
            _write_day(conn, problem_t, problem_event_t, values_by_id, events)


def _write_day(conn, table, log, values_by_id: dict[int, dict], events: list[dict]) -> None:
    """Store a day's moves of one clocked table: the rows first, then their events (as every
    writer does), each in one executemany: building an UPDATE per row costs more than running
    it."""
    import sqlalchemy as sa

    columns = list(next(iter(values_by_id.values())))
    update = table.update().where(table.c.id == sa.bindparam("b_id")).values(
        {c: sa.bindparam(f"b_{c}", type_=table.c[c].type) for c in columns}
    )
    conn.execute(update, [
        {"b_id": id_, **{f"b_{c}": v for c, v in values.items()}}
        for id_, values in values_by_id.items()
    ])
    conn.execute(log.insert(), events)
