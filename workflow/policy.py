"""Policies as data: load `policies/` (YAML), validate it, and build the domain objects.

Every error names the file and the key, e.g.
``policies/permits.yaml: permits.eia.promised_days.county: must be a positive integer``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from workflow.domain.calendar import Calendar, YearSchedule
from workflow.domain.clock import Phase, WarningRule
from workflow.domain.lifecycle import ClockEffect, EventSpec, Lifecycle, Role, StateSpec
from workflow.errors import PolicyError

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader is ~6x faster
LEVELS = ("national", "provincial", "municipal", "county")
Level = Literal["national", "provincial", "municipal", "county"]
CODE = r"^[a-z][a-z0-9_]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Names(_Strict):
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)


class SettingsModel(_Strict):
    timezone: str = "Asia/Shanghai"
    calendar: str = "cn-mainland"
    language: Literal["zh", "en"] = "zh"
    default_level: Level = "county"
    office: Names = Names(zh="重点项目建设推进办公室", en="Key Projects Promotion Office")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}") from None
        return v


class DepartmentsModel(_Strict):
    departments: dict[str, Names] = Field(min_length=1)


class WarningModel(_Strict):
    remaining_days: int | None = Field(default=None, ge=0)
    elapsed_percent: int | None = Field(default=None, gt=0, le=100)


class PermitTypeModel(_Strict):
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)
    department: str
    promised_days: dict[Level, int] = Field(min_length=1)
    prerequisites: list[str] = []
    warning: WarningModel = WarningModel(remaining_days=3)
    max_extension_days: int | None = Field(default=None, ge=0)

    @field_validator("promised_days")
    @classmethod
    def _positive(cls, v: dict[str, int]) -> dict[str, int]:
        for level, days in v.items():
            if days < 1:
                raise ValueError(f"{level}: must be a positive integer")
        return v


class PermitsModel(_Strict):
    permits: dict[str, PermitTypeModel] = Field(min_length=1)


class StateModel(_Strict):
    zh: str
    en: str
    phase: Phase
    granted: bool = False


class EventModel(_Strict):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    zh: str
    en: str
    from_: list[str] = Field(alias="from", min_length=1)
    to: str
    clock: ClockEffect = ClockEffect.NONE
    roles: list[Role] = Field(min_length=1)
    reason: bool = False
    days: bool = False
    prerequisites: bool = False


class LifecycleModel(_Strict):
    initial: str
    max_extension_days: int = Field(default=10, ge=0)
    states: dict[str, StateModel] = Field(min_length=1)
    events: dict[str, EventModel] = Field(min_length=1)


class YearModel(_Strict):
    holidays: dict[date, str] = {}
    workdays: dict[date, str] = {}


class LevelModel(_Strict):
    light: Literal["yellow", "red"] | None = None
    after: str | None = None
    rectify_within: int | None = Field(default=None, gt=0)
    title: Names
    number: str = Field(min_length=1)
    to: Literal["department", "leader"] = "department"
    bulletin: bool = False
    bundle: bool = True
    channels: list[Literal["file", "smtp", "webhook"]] = ["file"]


class AddressModel(_Strict):
    email: list[str] = []
    robots: list[str] = []


class RecipientsModel(_Strict):
    departments: dict[str, AddressModel] = {}
    leaders: dict[str, AddressModel] = {}
    bulletin: AddressModel = AddressModel()


class BackoffModel(_Strict):
    first_seconds: int = Field(default=60, gt=0)
    factor: float = Field(default=2.0, ge=1)
    max_seconds: int = Field(default=3600, gt=0)


class FileChannelModel(_Strict):
    directory: str = "notices"
    formats: list[Literal["md", "html", "text"]] = Field(default=["md", "html"], min_length=1)


class SmtpModel(_Strict):
    host: str = "localhost"
    port: int = Field(default=25, gt=0, le=65535)
    starttls: bool = False
    ssl: bool = False
    username: str | None = None
    password_env: str = "WORKFLOW_SMTP_PASSWORD"
    ca_file: str | None = None  # verify the server against this CA bundle (default: the system's)
    sender: str = "supervision@localhost"
    timeout_seconds: float = Field(default=20, gt=0)


class WebhookModel(_Strict):
    kind: Literal["dingtalk", "wecom"]
    url_env: str = Field(min_length=1)
    secret_env: str | None = None
    per_minute: int = Field(default=20, gt=0)
    max_chars: int = Field(default=4000, gt=100)
    timeout_seconds: float = Field(default=10, gt=0)


class DeliveryModel(_Strict):
    language: list[Literal["zh", "en"]] = Field(default=["zh"], min_length=1)
    max_attempts: int = Field(default=6, gt=0)
    backoff: BackoffModel = BackoffModel()
    lease_seconds: int = Field(default=600, gt=0)
    file: FileChannelModel = FileChannelModel()
    smtp: SmtpModel = SmtpModel()
    webhooks: dict[str, WebhookModel] = {}


class WeeklyModel(_Strict):
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = ["mon"]
    time: str = Field(default="09:00", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    directory: str = "reports"  # where the weekly report is written (WORKFLOW_REPORT_DIR wins)
    formats: list[Literal["md", "xlsx"]] = Field(default=["md", "xlsx"], min_length=1)


class ScheduleModel(_Strict):
    timezone: str = "Asia/Shanghai"
    daily: str = Field(default="08:30", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    deliver_every_minutes: int = Field(default=5, ge=0)
    weekly_report: WeeklyModel = WeeklyModel()
    misfire_grace_hours: float = Field(default=20, gt=0, le=24)
    retry_minutes: float = Field(default=5, gt=0, le=60)

    _zone = field_validator("timezone")(SettingsModel._zone.__func__)


class EscalationModel(_Strict):
    """`escalation.yaml`: levels, recipients, delivery and the scheduler's jobs."""

    levels: dict[str, LevelModel] = Field(min_length=1)
    recipients: RecipientsModel = RecipientsModel()
    delivery: DeliveryModel = DeliveryModel()
    schedule: ScheduleModel = ScheduleModel()


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class MeetingModel(_Strict):
    weekday: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "thu"
    agenda_directory: str | None = None


class ProblemsModel(_Strict):
    """`problems.yaml`: categories, warning rule, who raises, the meeting day, the lifecycle."""

    categories: dict[str, Names] = Field(min_length=1)
    warning: WarningModel = WarningModel(remaining_days=3)
    add_roles: list[Role] = Field(default=[Role.DEPARTMENT, Role.SUPERVISOR, Role.ADMIN],
                                  min_length=1)
    meeting: MeetingModel = MeetingModel()
    lifecycle: LifecycleModel


@dataclass(frozen=True, kw_only=True)
class ProblemPolicy:
    """The validated problem ledger policy (`policy.problems`)."""

    categories: dict[str, Names]
    warning: WarningRule
    max_extension_days: int
    add_roles: frozenset[Role]
    meeting_weekday: int  # 0 = Monday, as date.weekday()
    lifecycle: Lifecycle
    agenda_directory: str | None = None

    def category_name(self, code: str, lang: str) -> str:
        names = self.categories.get(code)
        if names is None:
            return code
        return names.zh if lang == "zh" else names.en


class CalendarModel(_Strict):
    name: str
    years: dict[int, YearModel]


@dataclass(frozen=True, kw_only=True)
class Department:
    code: str
    zh: str
    en: str

    def name(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


@dataclass(frozen=True, kw_only=True)
class PermitType:
    code: str
    zh: str
    en: str
    department: str
    promised_days: dict[str, int]
    prerequisites: tuple[str, ...]
    warning: WarningRule
    max_extension_days: int

    def name(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


@dataclass(frozen=True, kw_only=True)
class Policy:
    """One validated snapshot of a policy directory."""

    directory: Path
    settings: SettingsModel
    departments: dict[str, Department]
    permit_types: dict[str, PermitType]
    lifecycle: Lifecycle
    calendars: dict[str, Calendar]
    digest: str
    extra: dict[str, Any] = field(default_factory=dict)  # other validated files, by stem

    @cached_property
    def calendar(self) -> Calendar:
        return self.calendars[self.settings.calendar]

    @property
    def problems(self) -> ProblemPolicy:
        """The validated `problems.yaml` (categories, warning, meeting day, lifecycle)."""
        return self.extra["problems"]

    @property
    def escalation(self) -> EscalationModel:
        """The validated `escalation.yaml` (levels, recipients, delivery, schedule)."""
        return self.extra["escalation"]

    def permit_type(self, code: str) -> PermitType:
        from workflow.errors import NotFound

        try:
            return self.permit_types[code]
        except KeyError:
            raise NotFound(
                f"unknown permit type {code!r} (known: {', '.join(self.permit_types)})"
            ) from None

    def type_order(self) -> list[str]:
        """Permit types in prerequisite order (a prerequisite before what needs it)."""
        return _topological(self.permit_types)


def default_policy_dir() -> Path:
    """Return the policies shipped with the package (or the checkout's, in development)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "policies", here.parent / "policies"):
        if (candidate / "permits.yaml").is_file():
            return candidate
    raise PolicyError("no policies directory found: pass --policies DIR")


def _display(directory: Path, name: str) -> str:
    return f"{directory.name}/{name}" if directory.name else name


def _read_yaml(directory: Path, name: str, required: bool = True) -> tuple[Any, bytes]:
    path = directory / name
    try:
        if not path.is_file():
            if required:
                raise PolicyError(f"{_display(directory, name)}: file missing")
            return None, b""
        raw = path.read_bytes()
    except OSError as e:  # a name too long, no permission: one line, not a traceback
        raise PolicyError(f"{_display(directory, name)}: {e.strerror}") from None
    try:
        data = yaml.load(raw.decode("utf-8"), Loader=_Loader)
    except UnicodeDecodeError:
        raise PolicyError(f"{_display(directory, name)}: not UTF-8 text") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "?"
        problem = getattr(e, "problem", None) or "invalid YAML"
        raise PolicyError(f"{_display(directory, name)}: {where}: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise PolicyError(f"{_display(directory, name)}: top level must be a mapping")
    return data, raw


_MESSAGES = {
    "extra_forbidden": "unknown key",
    "missing": "is required",
    "int_parsing": "must be an integer",
    "int_type": "must be an integer",
    "int_from_float": "must be an integer",
    "bool_parsing": "must be true or false",
    "bool_type": "must be true or false",
    "string_type": "must be text",
    "dict_type": "must be a mapping",
    "list_type": "must be a list",
    "too_short": "must not be empty",
    "date_from_datetime_parsing": "must be a date (YYYY-MM-DD)",
    "date_parsing": "must be a date (YYYY-MM-DD)",
    "date_type": "must be a date (YYYY-MM-DD)",
}


def _message(err: dict) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind == "greater_than":
        return "must be a positive integer" if ctx.get("gt") == 0 else f"must exceed {ctx.get('gt')}"
    if kind == "greater_than_equal":
        return "must not be negative" if ctx.get("ge") == 0 else f"must be at least {ctx.get('ge')}"
    if kind in ("less_than_equal", "less_than"):
        return f"must be at most {ctx.get('le', ctx.get('lt'))}"
    if kind in ("literal_error", "enum"):
        return f"must be one of {ctx.get('expected', '')}"
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    return _MESSAGES.get(kind, err["msg"][0].lower() + err["msg"][1:])


def _validate(model: type[BaseModel], data: Any, where: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        loc = [str(p) for p in err["loc"] if p != "__root__"]
        msg = _message(err)
        # a validator's message may start with the key it is about ("county: must be ...")
        if err["type"] == "value_error" and ": " in msg and not msg.startswith("unknown"):
            head, rest = msg.split(": ", 1)
            if head in LEVELS:
                loc.append(head)
                msg = rest
        key = ".".join(loc) if loc else "(top level)"
        raise PolicyError(f"{where}: {key}: {msg}") from None


def _topological(types: dict[str, Any]) -> list[str]:
    order: list[str] = []
    seen: set[str] = set()

    def visit(code: str) -> None:
        if code in seen:
            return
        seen.add(code)
        for pre in types[code].prerequisites:
            visit(pre)
        order.append(code)

    for code in types:
        visit(code)
    return order


def _find_cycle(prereqs: dict[str, list[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(code: str) -> list[str] | None:
        state[code] = 1
        stack.append(code)
        for pre in prereqs.get(code, []):
            if state.get(pre) == 1:
                return stack[stack.index(pre):] + [pre]
            if pre not in state:
                found = visit(pre)
                if found:
                    return found
        stack.pop()
        state[code] = 2
        return None

    for code in prereqs:
        if code not in state:
            found = visit(code)
            if found:
                return found
    return None


def _check_code(code: str, where: str, key: str) -> None:
    import re

    if not re.match(CODE, str(code)):
        raise PolicyError(f"{where}: {key}: code must be lower-case letters, digits and _")


def load_calendar_file(path: Path, where: str | None = None) -> Calendar:
    """Load and validate one calendar file."""
    where = where or str(path)
    data, _ = _read_yaml(path.parent, path.name)
    model: CalendarModel = _validate(CalendarModel, data, where)
    years: dict[int, YearSchedule] = {}
    for year, sched in model.years.items():
        for kind, days in (("holidays", sched.holidays), ("workdays", sched.workdays)):
            for d in days:
                if d.year != year:
                    raise PolicyError(f"{where}: years.{year}.{kind}.{d}: date is not in {year}")
        both = set(sched.holidays) & set(sched.workdays)
        if both:
            d = min(both)
            raise PolicyError(f"{where}: years.{year}.workdays.{d}: also listed as a holiday")
        years[year] = YearSchedule(dict(sched.holidays), dict(sched.workdays))
    return Calendar(model.name, years)


_CACHE: dict[tuple, Policy] = {}


def load_policy(directory: Path | str | None = None) -> Policy:
    """Load and validate a policy directory (the shipped one by default).

    A directory whose files have not changed is validated once per process.
    """
    directory = Path(directory) if directory else default_policy_dir()
    if not directory.is_dir():
        raise PolicyError(f"{directory}: not a directory")
    key = (str(directory.resolve()),) + tuple(
        (str(p), p.stat().st_mtime_ns, p.stat().st_size)
        for p in sorted(directory.rglob("*")) if p.is_file()
    )
    if key not in _CACHE:
        _CACHE.clear()
        _CACHE[key] = _load_policy(directory)
    return _CACHE[key]


def _load_policy(directory: Path) -> Policy:
    w = lambda name: _display(directory, name)  # noqa: E731
    h = hashlib.sha256()

    data, raw = _read_yaml(directory, "settings.yaml", required=False)
    h.update(raw)
    settings: SettingsModel = _validate(SettingsModel, data or {}, w("settings.yaml"))

    data, raw = _read_yaml(directory, "departments.yaml")
    h.update(raw)
    deps: DepartmentsModel = _validate(DepartmentsModel, data, w("departments.yaml"))
    for code in deps.departments:
        _check_code(code, w("departments.yaml"), f"departments.{code}")
    departments = {
        code: Department(code=code, zh=n.zh, en=n.en) for code, n in deps.departments.items()
    }

    data, raw = _read_yaml(directory, "lifecycle.yaml")
    h.update(raw)
    lc: LifecycleModel = _validate(LifecycleModel, data, w("lifecycle.yaml"))
    lifecycle = _build_lifecycle(lc, w("lifecycle.yaml"))

    data, raw = _read_yaml(directory, "permits.yaml")
    h.update(raw)
    pm: PermitsModel = _validate(PermitsModel, data, w("permits.yaml"))
    permit_types: dict[str, PermitType] = {}
    for code, t in pm.permits.items():
        key = f"permits.{code}"
        _check_code(code, w("permits.yaml"), key)
        if t.department not in departments:
            raise PolicyError(
                f"{w('permits.yaml')}: {key}.department: unknown department {t.department!r}"
            )
        for pre in t.prerequisites:
            if pre not in pm.permits:
                raise PolicyError(
                    f"{w('permits.yaml')}: {key}.prerequisites: unknown permit type {pre!r}"
                )
        if t.warning.remaining_days is None and t.warning.elapsed_percent is None:
            raise PolicyError(
                f"{w('permits.yaml')}: {key}.warning: set remaining_days or elapsed_percent"
            )
        if t.warning.remaining_days is not None and t.warning.elapsed_percent is not None:
            raise PolicyError(
                f"{w('permits.yaml')}: {key}.warning: set only one of remaining_days, elapsed_percent"
            )
        permit_types[code] = PermitType(
            code=code, zh=t.zh, en=t.en, department=t.department,
            promised_days=dict(t.promised_days), prerequisites=tuple(t.prerequisites),
            warning=WarningRule(
                remaining_days=t.warning.remaining_days, elapsed_percent=t.warning.elapsed_percent
            ),
            max_extension_days=(
                t.max_extension_days if t.max_extension_days is not None
                else lifecycle.max_extension_days
            ),
        )
    cycle = _find_cycle({c: list(t.prerequisites) for c, t in permit_types.items()})
    if cycle:
        raise PolicyError(
            f"{w('permits.yaml')}: permits.{cycle[0]}.prerequisites: cycle {' -> '.join(cycle)}"
        )
    if settings.default_level not in LEVELS:
        raise PolicyError(f"{w('settings.yaml')}: default_level: unknown level")

    calendars: dict[str, Calendar] = {}
    cal_dir = directory / "calendars"
    if cal_dir.is_dir():
        for path in sorted(cal_dir.glob("*.yaml")):
            h.update(path.read_bytes())
            calendars[path.stem] = load_calendar_file(
                path, f"{_display(directory, 'calendars/' + path.name)}"
            )
    if settings.calendar not in calendars:
        raise PolicyError(
            f"{w('settings.yaml')}: calendar: no calendars/{settings.calendar}.yaml "
            f"(found: {', '.join(calendars) or 'none'})"
        )
    data, raw = _read_yaml(directory, "escalation.yaml", required=False)
    h.update(raw)
    escalation = load_escalation(data, w("escalation.yaml"), departments)
    data, raw = _read_yaml(directory, "problems.yaml", required=False)
    where = w("problems.yaml")
    if not raw:  # a policy directory without problems.yaml gets the shipped one
        shipped = default_policy_dir()
        data, raw = _read_yaml(shipped, "problems.yaml")
        where = _display(shipped, "problems.yaml")
    h.update(raw)
    problems = load_problems(data, where)
    return Policy(
        directory=directory, settings=settings, departments=departments,
        permit_types=permit_types, lifecycle=lifecycle, calendars=calendars,
        digest=h.hexdigest()[:16], extra={"escalation": escalation, "problems": problems},
    )


def load_problems(data: dict, where: str) -> ProblemPolicy:
    """Validate `problems.yaml`; the lifecycle's initial state must run the clock."""
    model: ProblemsModel = _validate(ProblemsModel, data, where)
    for code in model.categories:
        _check_code(code, where, f"categories.{code}")
    w = model.warning
    if (w.remaining_days is None) == (w.elapsed_percent is None):
        raise PolicyError(f"{where}: warning: set exactly one of remaining_days, elapsed_percent")
    lifecycle = _build_lifecycle(model.lifecycle, f"{where}: lifecycle",
                                 initial_phase=Phase.RUNNING)
    if Role.VIEWER in model.add_roles:
        raise PolicyError(f"{where}: add_roles: a viewer may change nothing")
    return ProblemPolicy(
        categories=dict(model.categories),
        warning=WarningRule(remaining_days=w.remaining_days, elapsed_percent=w.elapsed_percent),
        max_extension_days=model.lifecycle.max_extension_days,
        add_roles=frozenset(model.add_roles),
        meeting_weekday=WEEKDAYS.index(model.meeting.weekday),
        lifecycle=lifecycle,
        agenda_directory=model.meeting.agenda_directory,
    )


DEFAULT_LEVELS = {
    "reminder": {"light": "yellow", "title": {"zh": "催办通知", "en": "Reminder"},
                 "number": "催办〔{year}〕第{seq:04d}号"},
    "supervision": {"light": "red", "rectify_within": 5,
                    "title": {"zh": "督办通知书", "en": "Supervision notice"},
                    "number": "督办〔{year}〕第{seq:04d}号"},
    "escalation": {"after": "supervision", "rectify_within": 3, "to": "leader", "bulletin": True,
                   "title": {"zh": "督办事项通报", "en": "Escalation notice"},
                   "number": "通报〔{year}〕第{seq:04d}号"},
}


def load_escalation(
    data: dict | None, where: str, departments: dict[str, Department]
) -> EscalationModel:
    """Validate `escalation.yaml` (the built-in levels when the file is missing)."""
    data = dict(data or {})
    data.setdefault("levels", DEFAULT_LEVELS)
    model: EscalationModel = _validate(EscalationModel, data, where)
    for name, level in model.levels.items():
        key = f"levels.{name}"
        _check_code(name, where, key)
        if (level.light is None) == (level.after is None):
            raise PolicyError(f"{where}: {key}: set exactly one of light, after")
        if level.after is not None:
            base = model.levels.get(level.after)
            if base is None:
                raise PolicyError(f"{where}: {key}.after: unknown level {level.after!r}")
            if base.light is None or base.rectify_within is None:
                raise PolicyError(
                    f"{where}: {key}.after: level {level.after!r} must have a light and "
                    "rectify_within"
                )
        try:
            text = level.number.format(year=2026, seq=7)
        except (KeyError, IndexError, ValueError) as e:
            raise PolicyError(
                f"{where}: {key}.number: bad format ({e}); use {{year}} and {{seq}}"
            ) from None
        if text == level.number.format(year=2026, seq=8):
            raise PolicyError(f"{where}: {key}.number: must contain {{seq}}")
    robots = model.delivery.webhooks
    for kind, book in (("departments", model.recipients.departments),
                       ("leaders", model.recipients.leaders)):
        for name, address in book.items():
            if kind == "departments" and name not in departments:
                raise PolicyError(
                    f"{where}: recipients.departments.{name}: unknown department {name!r}"
                )
            _check_robots(address, robots, where, f"recipients.{kind}.{name}")
    _check_robots(model.recipients.bulletin, robots, where, "recipients.bulletin")
    return model


def _check_robots(address: AddressModel, robots: dict, where: str, key: str) -> None:
    for robot in address.robots:
        if robot not in robots:
            raise PolicyError(f"{where}: {key}.robots: unknown webhook {robot!r}")


def _build_lifecycle(
    lc: LifecycleModel, where: str, initial_phase: Phase = Phase.PENDING
) -> Lifecycle:
    for code in lc.states:
        _check_code(code, where, f"states.{code}")
    if lc.initial not in lc.states:
        raise PolicyError(f"{where}: initial: unknown state {lc.initial!r}")
    if lc.states[lc.initial].phase != initial_phase:
        raise PolicyError(
            f"{where}: initial: the initial state must have phase {initial_phase.value}"
        )
    states = {
        code: StateSpec(name=code, zh=s.zh, en=s.en, phase=s.phase, granted=s.granted)
        for code, s in lc.states.items()
    }
    for code, s in lc.states.items():
        if s.granted and s.phase != Phase.CLOSED:
            raise PolicyError(f"{where}: states.{code}.granted: only a closed state can be granted")
    events: dict[str, EventSpec] = {}
    for code, e in lc.events.items():
        key = f"events.{code}"
        _check_code(code, where, key)
        if code in states:
            raise PolicyError(f"{where}: {key}: an event may not share a state's name")
        for src in e.from_:
            if src not in states:
                raise PolicyError(f"{where}: {key}.from: unknown state {src!r}")
        dest = None if e.to == "same" else e.to
        if dest is not None and dest not in states:
            raise PolicyError(f"{where}: {key}.to: unknown state {e.to!r}")
        if Role.VIEWER in e.roles:
            raise PolicyError(f"{where}: {key}.roles: a viewer may change nothing")
        expected = {
            ClockEffect.START: Phase.RUNNING,
            ClockEffect.PAUSE: Phase.PAUSED,
            ClockEffect.RESUME: Phase.RUNNING,
            ClockEffect.REOPEN: Phase.RUNNING,
            ClockEffect.CLOSE: Phase.CLOSED,
            ClockEffect.VOID: Phase.VOID,
        }.get(e.clock)
        if expected and (dest is None or states[dest].phase != expected):
            raise PolicyError(
                f"{where}: {key}.to: clock {e.clock.value} must lead to a state of phase "
                f"{expected.value}"
            )
        if e.clock == ClockEffect.EXTEND and not e.days:
            raise PolicyError(f"{where}: {key}.days: an extend event needs days: true")
        events[code] = EventSpec(
            name=code, zh=e.zh, en=e.en, sources=tuple(e.from_), dest=dest, clock=e.clock,
            roles=frozenset(e.roles), reason=e.reason, days=e.days, prerequisites=e.prerequisites,
        )
    return Lifecycle(
        initial=lc.initial, states=states, events=events, max_extension_days=lc.max_extension_days
    )
