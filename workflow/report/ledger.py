"""The ledger (台账): one row per permit with its project, dates, state and light.

Export writes xlsx (header row, frozen panes, lights as cell fills) or CSV (UTF-8, no BOM by
default; `bom=True` for Excel on Windows). Import reads the same format back, in either header
language, and recreates each permit through its lifecycle: the events it writes are the moves
that lead to the row's state on the row's dates, so `workflow rebuild --check` agrees with the
rows and an export of the imported database equals the imported file.

Import is all-or-nothing: every bad cell is reported as `row N, column C: message` (N is the
spreadsheet row, the header being row 1) and nothing is written. It writes with a few bulk
statements (ids allocated up front), so 100k rows take seconds, not minutes.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from workflow import actors
from workflow.app import App
from workflow.domain.chain import GENESIS, canonical
from workflow.domain.clock import Phase, read_clock
from workflow.domain.lifecycle import ClockEffect, EventSpec, Lifecycle
from workflow.domain.projection import Facts, apply_move, move_data
from workflow.errors import BadData
from workflow.policy import LEVELS, Policy
from workflow.report.i18n import check_lang
from workflow.report.render import LIGHT_FILL, safe_text, unsafe_text
from workflow.store.calendar_table import FIRST_DAY, LAST_DAY
from workflow.store.db import insert_plain
from workflow.store.events import dump_data, event_t, permit_t
from workflow.store.models import Campaign, Project, ProjectCampaign, utcnow

project_t = Project.__table__
campaign_t = Campaign.__table__
link_t = ProjectCampaign.__table__

IMPORT_REASON = "ledger import"
WRITE_BATCH = 10_000  # permits built and written at a time: memory stays flat
CAMPAIGN_SEPARATORS = (";", "；")


@dataclass(frozen=True)
class Column:
    key: str
    zh: str
    en: str
    kind: str = "text"  # text, date, int, float
    derived: bool = False  # shown on export, ignored on import

    def header(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


COLUMNS = (
    Column("project_code", "项目代码", "Project code"),
    Column("project_name", "项目名称", "Project name"),
    Column("district", "区县", "District"),
    Column("park", "园区", "Park"),
    Column("investment", "总投资(万元)", "Investment (10k yuan)", "float"),
    Column("planned_start", "计划开工", "Planned start", "date"),
    Column("leader", "包保领导", "Leader in charge"),
    Column("contact", "联络员", "Contact"),
    Column("campaigns", "专项行动", "Campaigns"),
    Column("type", "事项代码", "Permit type"),
    Column("type_name", "审批事项", "Permit name", derived=True),
    Column("department_name", "审批部门", "Department", derived=True),
    Column("level", "审批层级", "Level"),
    Column("promised_days", "承诺时限(工作日)", "Promised working days", "int"),
    Column("responsible", "责任人", "Responsible"),
    Column("state", "状态代码", "State"),
    Column("state_name", "办理状态", "State name", derived=True),
    Column("accepted_on", "受理日期", "Accepted on", "date"),
    Column("extension_days", "延长(工作日)", "Extension days", "int"),
    Column("paused_days", "已结束中止(工作日)", "Finished pause days", "int"),
    Column("suspended_since", "中止日期", "Suspended since", "date"),
    Column("closed_on", "办结日期", "Closed on", "date"),
    # derived, but read back: it tells whether a pause moved the due date (see _Planner)
    Column("due_on", "到期日", "Due on", "date"),
    Column("light", "亮灯", "Light", derived=True),
    Column("remaining_days", "剩余(工作日)", "Remaining working days", "int", derived=True),
    Column("overdue_days", "超期(工作日)", "Overdue working days", "int", derived=True),
)
BY_KEY = {c.key: c for c in COLUMNS}
REQUIRED = ("project_code", "project_name", "type", "state")
# cached permit columns that `permits.cached_fields` computes from the events
FOLDED = ("state", "phase", "promised_days", "extension_days", "paused_days", "accepted_on",
          "suspended_since", "closed_on", "last_move_on", "due_on", "warn_at", "light",
          "light_on")
PLAN_FIELDS = ("type", "level", "promised_days", "responsible", "state", "accepted_on",
               "extension_days", "paused_days", "suspended_since", "closed_on", "due_on")
PROJECT_FIELDS = ("project_name", "district", "park", "investment", "planned_start", "leader",
                  "contact", "campaigns")


# -- export ------------------------------------------------------------------------------------

def ledger_rows(app: App, lang: str) -> list[dict[str, Any]]:
    """Every permit with its project, as ledger rows (typed values), clocks as of today."""
    policy, cal, today = app.policy, app.calendar, app.today()
    order = {c: i for i, c in enumerate(policy.type_order())}
    from workflow.permits import ensure_calendar_current, row_clock

    with app.db.connect() as conn:
        ensure_calendar_current(app, conn)
        camps: dict[int, list[str]] = {}
        for pid, name in conn.execute(
            sa.select(link_t.c.project_id, campaign_t.c.name)
            .join(campaign_t, campaign_t.c.id == link_t.c.campaign_id)
        ):
            camps.setdefault(pid, []).append(name)
        result = conn.execute(
            sa.select(
                permit_t, project_t.c.code.label("project_code"),
                project_t.c.name.label("project_name"), project_t.c.district, project_t.c.park,
                project_t.c.investment, project_t.c.planned_start, project_t.c.leader,
                project_t.c.contact,
            ).join(project_t, project_t.c.id == permit_t.c.project_id)
        )
        rows = []
        readings: dict[tuple, Any] = {}
        for r in result:
            ptype = policy.permit_types.get(r.type)
            state = policy.lifecycle.states.get(r.state)
            dept = policy.departments.get(r.department)
            out = {
                "project_code": r.project_code, "project_name": r.project_name,
                "district": r.district, "park": r.park, "investment": r.investment,
                "planned_start": r.planned_start, "leader": r.leader, "contact": r.contact,
                "campaigns": "; ".join(sorted(camps.get(r.project_id, []))) or None,
                "type": r.type, "type_name": ptype.name(lang) if ptype else r.type,
                "department_name": dept.name(lang) if dept else r.department,
                "level": r.level,
                "promised_days": r.promised_days or r.promised_override
                or (ptype.promised_days.get(r.level) if ptype else None),
                "responsible": r.responsible, "state": r.state,
                "state_name": (state.zh if lang == "zh" else state.en) if state else r.state,
                "accepted_on": r.accepted_on, "extension_days": r.extension_days,
                "paused_days": r.paused_days, "suspended_since": r.suspended_since,
                "closed_on": r.closed_on, "due_on": None, "light": "none",
                "remaining_days": None, "overdue_days": None,
            }
            if ptype is not None and r.accepted_on is not None:
                clock = row_clock(r)
                reading = readings.get((r.type, clock))
                if reading is None:  # many permits share a clock; read each one once
                    reading = readings[r.type, clock] = read_clock(clock, cal, ptype.warning,
                                                                   today)
                out["due_on"] = reading.due_on
                out["light"] = reading.light.value
                if r.phase in (Phase.RUNNING.value, Phase.PAUSED.value):
                    out["remaining_days"] = reading.remaining_days
                if r.phase != Phase.VOID.value:
                    out["overdue_days"] = reading.overdue_days
            rows.append(out)
    rows.sort(key=lambda x: (x["project_code"], order.get(x["type"], len(order)), x["type"]))
    return rows


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def export(app: App, path: Path, *, lang: str | None = None, bom: bool = False) -> dict:
    """Write the ledger to `path` (.xlsx or .csv); return the row count and the path."""
    lang = check_lang(lang, app.policy.settings.language)
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".xlsx", ".csv"):
        raise BadData(f"{path}: the ledger is written as .xlsx or .csv")
    rows = ledger_rows(app, lang)
    headers = [c.header(lang) for c in COLUMNS]
    if suffix == ".csv":
        with open(path, "w", encoding="utf-8-sig" if bom else "utf-8", newline="") as f:
            w = csv.writer(f, lineterminator="\r\n")
            w.writerow(headers)
            for r in rows:
                w.writerow([safe_text(_text(r[c.key])) if c.kind == "text" else _text(r[c.key])
                            for c in COLUMNS])
    else:
        _write_xlsx(path, headers, rows, lang)
    return {"rows": len(rows), "path": str(path), "lang": lang}


def _write_xlsx(path: Path, headers: list[str], rows: list[dict], lang: str) -> None:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font, PatternFill

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("台账" if lang == "zh" else "Ledger")
    ws.freeze_panes = "C2"  # header row and the project code and name stay in view
    widths = {"project_name": 30, "type_name": 22, "department_name": 18, "campaigns": 18}
    for i, c in enumerate(COLUMNS):
        letter = _column_letter(i + 1)
        ws.column_dimensions[letter].width = widths.get(c.key, 12)
    bold = Font(bold=True)
    header_cells = []
    for h in headers:
        cell = WriteOnlyCell(ws, value=h)
        cell.font = bold
        header_cells.append(cell)
    ws.append(header_cells)
    fills = {k: PatternFill("solid", fgColor=v) for k, v in LIGHT_FILL.items()}
    light_index = [c.key for c in COLUMNS].index("light")
    date_format = "yyyy-mm-dd"
    for r in rows:
        values = []
        for c in COLUMNS:
            v = r[c.key]
            if c.kind == "text":
                v = safe_text(v)
            values.append(v)
        fill = fills.get(r["light"])
        if fill is None and not any(isinstance(v, date) for v in values):
            ws.append(values)
            continue
        cells = []
        for i, v in enumerate(values):
            cell = WriteOnlyCell(ws, value=v)
            if isinstance(v, date):
                cell.number_format = date_format
            if i == light_index and fill is not None:
                cell.fill = fill
            cells.append(cell)
        ws.append(cells)
    wb.save(path)


def _column_letter(n: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(n)


# -- reading a file ----------------------------------------------------------------------------

class LedgerErrors(BadData):
    """Every problem found in an import file, one `row N, column C: message` per line."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__(f"ledger import refused, nothing written ({len(errors)} "
                         f"error{'s' if len(errors) != 1 else ''}):\n" + "\n".join(errors))


def read_table(path: Path) -> tuple[list[Any], Rows]:
    """Return the header of a .csv or .xlsx file and an iterator over its other rows, cells as
    read (xlsx keeps types). Rows are read as they are consumed: a province's ledger is never
    held twice (as cells and as parsed rows)."""
    path = Path(path)
    if not path.is_file():
        raise BadData(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        from openpyxl import load_workbook

        try:
            wb = load_workbook(path, read_only=True, data_only=True)
        except Exception as e:  # openpyxl raises many kinds for a damaged file
            raise BadData(f"{path}: not a readable xlsx file ({type(e).__name__})") from None
        rows = _xlsx_rows(wb, path)

        def close(sheet=rows) -> None:  # the sheet's reader holds the file too
            sheet.close()
            wb.close()
    elif suffix == ".csv":
        rows = csv.reader(io.StringIO(decode_csv(path.read_bytes(), path), newline=""))
        close = _nothing  # read whole: nothing stays open
    else:
        raise BadData(f"{path}: the ledger is read from .xlsx or .csv")
    try:
        header = next(rows, None)
        blank: list[list[Any]] = []  # blank rows after a blank first row, kept for their numbers
        if header is not None and all(v in (None, "") for v in header):
            for row in rows:
                blank.append(row)
                if any(v not in (None, "") for v in row):
                    break
            else:
                header = None
        if header is None:
            raise BadData(f"{path}: empty file")
    except BaseException:
        close()
        raise
    return list(header), Rows(blank, rows, close)


class Rows:
    """A ledger's rows after its header, read from the file as they are iterated; `close`
    closes the file (also when the rows were never read: a refused header)."""

    def __init__(self, first: list[list[Any]], rest: Iterator[list[Any]], close) -> None:
        self._first, self._rest, self._close = first, rest, close

    def __iter__(self) -> Iterator[list[Any]]:
        yield from self._first
        yield from self._rest

    def close(self) -> None:
        self._close()


def _xlsx_rows(wb, path: Path) -> Iterator[list[Any]]:
    try:
        for r in wb.worksheets[0].iter_rows(values_only=True):
            yield list(r)
    except Exception as e:  # a sheet damaged part-way: openpyxl raises many kinds
        raise BadData(f"{path}: not a readable xlsx file ({type(e).__name__})") from None


def _nothing() -> None:
    pass


def decode_csv(raw: bytes, path: Path) -> str:
    """UTF-8 (with or without BOM) first; otherwise GB18030, a superset of GBK and GB2312."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("gb18030")
    except UnicodeDecodeError:
        raise BadData(f"{path}: neither UTF-8 nor GB18030 (GBK) text; save it as UTF-8") from None


def _header_map() -> dict[str, str]:
    names: dict[str, str] = {}
    for c in COLUMNS:
        for name in (c.key, c.zh, c.en):
            names[name.strip().lower()] = c.key
    return names


@dataclass
class _Row:
    n: int  # spreadsheet row number
    values: dict[str, Any]
    headers: dict[str, str]  # key -> header as in the file
    bad: bool = False  # a cell could not be read


@dataclass
class _Plan:
    """What one permit row turns into: its events and its cached columns."""

    row: int
    project_code: str
    values: dict[str, Any]
    moves: list[tuple[EventSpec, date, dict]] = field(default_factory=list)


MEMO_LIMIT = 200_000


def _convert(kind: str, value: Any) -> Any:
    """Return a typed value, or raise ValueError with a message for the cell."""
    return _convert_cell(kind, value)


def _convert_cell(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        value = unsafe_text(value.strip())
        if value == "":
            return None
    if kind == "text":
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)
    if kind == "date":
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        text = str(value).replace("/", "-").replace(".", "-")
        try:
            y, m, d = (int(x) for x in text.split("-"))
            return date(y, m, d)
        except ValueError:
            raise ValueError(f"{value!r} is not a date (YYYY-MM-DD)") from None
    if kind == "int":
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is not a whole number")
        if isinstance(value, int):
            return value
        try:
            f = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{value!r} is not a whole number") from None
        if not f.is_integer():
            raise ValueError(f"{value!r} is not a whole number")
        return int(f)
    if kind == "float":
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{value!r} is not a number") from None
    raise AssertionError(kind)


def _find(lifecycle: Lifecycle, source: str, clock: ClockEffect,
          dest: str | None = None) -> EventSpec | None:
    for e in lifecycle.events.values():
        if source in e.sources and e.clock == clock and (dest is None or e.dest == dest):
            return e
    return None


class _Planner:
    def __init__(self, policy: Policy, app: App, today: date):
        self.policy = policy
        self.lifecycle = policy.lifecycle
        self.cal = app.calendar
        self.today = today
        self._found: dict[tuple, EventSpec | None] = {}
        self._plans: dict[tuple, _Plan] = {}

    def find(self, source: str, clock: ClockEffect, dest: str | None = None) -> EventSpec | None:
        key = (source, clock, dest)
        if key not in self._found:
            self._found[key] = _find(self.lifecycle, source, clock, dest)
        return self._found[key]

    def plan_cached(self, r: _Row, err) -> _Plan | None:
        """`plan`, reusing the moves of an earlier row with the same permit fields."""
        v = r.values
        key = tuple(map(v.get, PLAN_FIELDS))
        hit = self._plans.get(key)
        if hit is not None:
            return _Plan(row=r.n, project_code=v["project_code"], values=hit.values,
                         moves=hit.moves)
        failed = []
        plan = self.plan(r, lambda k, m: (failed.append(1), err(k, m)))
        if plan is not None and not failed:
            self._plans[key] = plan
        return plan

    def plan(self, r: _Row, err) -> _Plan | None:
        """Check one permit row and return its plan (errors go to `err(column_key, message)`)."""
        v = r.values
        policy, lc = self.policy, self.lifecycle
        ptype = policy.permit_types.get(v["type"]) if v.get("type") else None
        if v.get("type") and ptype is None:
            err("type", f"unknown permit type {v['type']!r}")
        level = v.get("level") or policy.settings.default_level
        if level not in LEVELS:
            err("level", f"unknown level {level!r} (levels: {', '.join(LEVELS)})")
        state = v.get("state")
        spec = lc.states.get(state) if state else None
        if state and spec is None:
            err("state", f"unknown state {state!r} (states: {', '.join(lc.states)})")
        promised = v.get("promised_days")
        if promised is not None and promised < 1:
            err("promised_days", "must be a positive whole number")
        for key in ("extension_days", "paused_days"):
            if v.get(key) is not None and v[key] < 0:
                err(key, "must not be negative")
        for key in ("accepted_on", "suspended_since", "closed_on"):
            if v.get(key) is not None and v[key] > self.today:
                err(key, f"{v[key]} is after today ({self.today})")
            elif v.get(key) is not None and not FIRST_DAY <= v[key] <= LAST_DAY:
                err(key, f"{v[key]} is outside the calendar ({FIRST_DAY} to {LAST_DAY})")
        if ptype is None or spec is None or level not in LEVELS:
            return None
        default = ptype.promised_days.get(level)
        if promised is None and default is None:
            err("promised_days", f"{ptype.code} has no promised limit at level {level}")
            return None
        override = promised if promised is not None and promised != default else None
        limit = promised if promised is not None else default
        acc, susp, closed = v.get("accepted_on"), v.get("suspended_since"), v.get("closed_on")
        ext, paused = v.get("extension_days") or 0, v.get("paused_days") or 0
        phase = spec.phase
        needs_acc = phase in (Phase.RUNNING, Phase.PAUSED, Phase.CLOSED)
        ok = True
        if needs_acc and acc is None:
            err("accepted_on", f"state {state} needs an acceptance date"); ok = False  # noqa: E702
        if phase == Phase.PENDING:
            for key in ("accepted_on", "suspended_since", "closed_on"):
                if v.get(key) is not None:
                    err(key, f"must be empty for state {state} (not accepted)"); ok = False  # noqa: E702
        if phase == Phase.PAUSED and susp is None:
            err("suspended_since", f"state {state} needs the day it was suspended"); ok = False  # noqa: E702
        if phase != Phase.PAUSED and susp is not None:
            err("suspended_since", f"must be empty for state {state}"); ok = False  # noqa: E702
        if phase in (Phase.CLOSED, Phase.VOID) and closed is None:
            err("closed_on", f"state {state} needs a closing date"); ok = False  # noqa: E702
        if phase in (Phase.RUNNING, Phase.PAUSED) and closed is not None:
            err("closed_on", f"must be empty for state {state}"); ok = False  # noqa: E702
        if acc is None and (ext or paused):
            key = "extension_days" if ext else "paused_days"
            err(key, "must be 0 for a permit never accepted"); ok = False  # noqa: E702
        if ext > ptype.max_extension_days:
            err("extension_days", f"exceeds the policy's maximum of {ptype.max_extension_days}")
            ok = False
        for key, day in (("suspended_since", susp), ("closed_on", closed)):
            if acc is not None and day is not None and day < acc:
                err(key, f"{day} is before the acceptance date {acc}"); ok = False  # noqa: E702
        if not ok:
            return None
        moves: list[tuple[EventSpec, date, dict]] = []
        cur = lc.initial

        def step(spec_: EventSpec | None, on: date, what: str, **data) -> bool:
            nonlocal cur
            if spec_ is None:
                err("state", f"the lifecycle has no event to {what} from {cur}")
                return False
            moves.append((spec_, on, data))
            cur = spec_.dest or cur
            return True

        if phase == Phase.PENDING:
            if state != cur:
                e = next((x for x in lc.events.values() if cur in x.sources and x.dest == state
                          and x.clock == ClockEffect.NONE), None)
                if not step(e, self.today, f"reach {state}"):
                    return None
        elif phase == Phase.VOID and acc is None:
            if not step(self.find(cur, ClockEffect.VOID, state), closed, f"reach {state}"):
                return None
        else:
            if not step(self.find(cur, ClockEffect.START), acc, "accept",
                        promised_days=limit):
                return None
            end = {Phase.PAUSED: susp, Phase.CLOSED: closed, Phase.VOID: closed}.get(
                phase, self.today)
            if paused:
                # The clock needs only the total, but the due date also depends on whether a
                # pause began before the limit ran out (clock.due_ordinal). The ledger's due
                # date tells how many paused days moved it: those go in a pause from the
                # acceptance day, the rest in a pause that starts on the due date.
                cal = self.cal
                base = cal.ordinal(acc)
                shift = paused
                if v.get("due_on") is not None:
                    due_ord = cal.ordinal(v["due_on"])
                    if phase == Phase.PAUSED:  # the live due date also holds the current pause
                        start = cal.ordinal(max(susp - timedelta(1), acc))
                        ongoing = max(0, cal.ordinal(self.today) - start)
                        if start < due_ord - ongoing:
                            due_ord -= ongoing
                    shift = min(paused, max(0, due_ord - base - limit - ext))
                pauses = []
                if shift:
                    pauses.append((acc, cal.workday_at(base + shift) + timedelta(1)))
                if paused - shift:
                    due = base + limit + ext + shift
                    pauses.append((cal.workday_at(due) + timedelta(1),
                                   cal.workday_at(due + paused - shift) + timedelta(1)))
                if pauses[-1][1] > end:
                    err("paused_days", f"{paused} working days of pause do not fit between "
                        f"{acc} and {end}")
                    return None
                for i, (suspend_on, resume_on) in enumerate(pauses):
                    if not step(self.find(cur, ClockEffect.PAUSE), suspend_on, "suspend"):
                        return None
                    if i == 0 and ext and not step(self.find(cur, ClockEffect.EXTEND),
                                                   suspend_on, "extend", days=ext):
                        return None
                    if not step(self.find(cur, ClockEffect.RESUME), resume_on, "resume"):
                        return None
            elif ext and not step(self.find(cur, ClockEffect.EXTEND), acc, "extend", days=ext):
                return None
            if phase == Phase.RUNNING and cur != state:
                err("state", f"state {state} cannot be reached by import")
                return None
            effect = {Phase.PAUSED: ClockEffect.PAUSE, Phase.CLOSED: ClockEffect.CLOSE,
                      Phase.VOID: ClockEffect.VOID}.get(phase)
            if effect is not None and not step(self.find(cur, effect, state), end,
                                               f"reach {state}"):
                return None
        values = {
            "type": ptype.code, "department": ptype.department, "level": level,
            "responsible": v.get("responsible"), "promised_override": override,
        }
        return _Plan(row=r.n, project_code=v["project_code"], values=values, moves=moves)


def _read_rows(header: list[Any], rows: Iterable[list[Any]], errors: list[str]) -> list[_Row]:
    names = _header_map()
    keys: list[str | None] = []
    shown: dict[str, str] = {}
    for h in header:
        text = "" if h is None else str(h).strip()
        key = names.get(unsafe_text(text).lower()) if text else None
        if text and key is None:
            errors.append(f"row 1, column {text}: unknown column")
        if key is not None and key in shown:
            errors.append(f"row 1, column {text}: column given twice")
            key = None
        if key is not None:
            shown[key] = text
        keys.append(key)
    for key in REQUIRED:
        if key not in shown:
            errors.append(f"row 1, column {BY_KEY[key].en}: required column missing")
    if errors:
        return []
    out = []
    # one memo per column: ledgers repeat their dates, states, types and names a lot
    read = [(i, key, BY_KEY[key].kind, {}) for i, key in enumerate(keys)
            if key is not None and not BY_KEY[key].derived]
    width = len(keys)
    for n, raw in enumerate(rows, start=2):
        if not any(v not in (None, "") for v in raw):
            continue
        if len(raw) < width:
            raw = list(raw) + [None] * (width - len(raw))
        values: dict[str, Any] = {}
        bad = False
        for i, key, kind, memo in read:
            cell = raw[i]
            try:
                values[key] = memo[cell]
                continue
            except (KeyError, TypeError):
                pass
            try:
                values[key] = value = _convert(kind, cell)
                if len(memo) < MEMO_LIMIT:
                    memo[cell] = value
            except ValueError as e:
                errors.append(f"row {n}, column {shown[key]}: {e}")
                values[key] = None
                bad = True
        for key in REQUIRED:
            if not values.get(key):
                errors.append(f"row {n}, column {shown[key]}: must not be empty")
                bad = True
        out.append(_Row(n, values, shown, bad))
    return out


# -- import ------------------------------------------------------------------------------------

def import_(app: App, path: Path) -> dict:
    """Import projects and permits from a ledger file; all rows or none."""
    header, rows = read_table(Path(path))
    try:
        return import_rows(app, header, rows)
    finally:
        rows.close()  # the file is closed now, also when the import was refused


def import_rows(app: App, header: list[Any], rows: Iterable[list[Any]]) -> dict:
    """Import ledger rows (a header and lists of cells); raise LedgerErrors listing every error."""
    policy = app.policy
    today = app.today()
    errors: list[str] = []
    parsed = _read_rows(header, rows, errors)
    if errors and not parsed:  # the header itself is wrong
        raise LedgerErrors(errors)
    planner = _Planner(policy, app, today)
    projects: dict[str, dict[str, Any]] = {}
    plans: list[_Plan] = []
    seen: dict[tuple[str, str], _Row] = {}
    for r in parsed:
        def err(key: str, message: str, r=r) -> None:
            column = r.headers.get(key) or BY_KEY[key].header(policy.settings.language)
            errors.append(f"row {r.n}, column {column}: {message}")

        v = r.values
        code = v.get("project_code")
        if code and ("/" in code):
            err("project_code", "must not contain '/'")
        if v.get("investment") is not None and v["investment"] < 0:
            err("investment", "must not be negative")
        if code:
            same = tuple(map(v.get, PROJECT_FIELDS))
            if code not in projects:
                projects[code] = {**dict(zip(PROJECT_FIELDS, same, strict=True)), "row": r.n,
                                  "same": same}
            elif projects[code]["same"] != same:
                fields = dict(zip(PROJECT_FIELDS, same, strict=True))
                first = projects[code]
                for k in PROJECT_FIELDS:
                    if fields[k] is not None and first[k] is not None and fields[k] != first[k]:
                        err(k, f"differs from row {first['row']} of project {code}")
                    elif first[k] is None and fields[k] is not None:
                        first[k] = fields[k]
            if v.get("type"):
                ref = (code, v["type"])
                if ref in seen:
                    err("type", f"permit {code}/{v['type']} already given in row {seen[ref].n}")
                else:
                    seen[ref] = r
        if r.bad:  # already reported; its other checks would only repeat the cause
            continue
        plan = planner.plan_cached(r, err)
        if plan is not None:
            plans.append(plan)
    with app.db.connect(write=True) as conn:
        actor = actors.lookup(conn, app.settings.actor)
        actors.require(actor, actors.IMPORT_LEDGER, "import a ledger")
        existing = dict(conn.execute(
            sa.select(project_t.c.code, project_t.c.id).where(
                project_t.c.code.in_(list(projects)))
        ).all()) if projects else {}
        if existing:
            taken = set(conn.execute(
                sa.select(project_t.c.code, permit_t.c.type)
                .join(permit_t, permit_t.c.project_id == project_t.c.id)
                .where(project_t.c.code.in_(list(existing)))
            ).all())
            for (code, type_), r in seen.items():
                if (code, type_) in taken:
                    errors.append(f"row {r.n}, column {r.headers['type']}: "
                                  f"permit {code}/{type_} already exists")
        if errors:
            raise LedgerErrors(sorted(errors, key=_row_number))
        with _big_cache(conn):
            written = _write(app, conn, actor.name, today, projects, existing, plans)
    return {"projects": written["projects"], "permits": len(plans),
            "events": written["events"], "existing_projects": len(existing)}


def _row_number(line: str) -> int:
    try:
        return int(line.split(",", 1)[0].split()[1])
    except (IndexError, ValueError):
        return 0


class BulkWriter:
    """Driver-level executemany into one table, values converted by the column types.

    Each column type's own bind processor (day numbers, UTC timestamps) converts the values,
    memoised per distinct value; SQLAlchemy's per-row parameter processing would cost several
    times the insert itself at 100k rows. Rows are tuples in `keys` order.
    """

    def __init__(self, conn: Connection, table: sa.Table, keys: list[str]):
        self.conn, self.table, self.keys = conn, table, keys
        dialect = conn.dialect
        self.procs = [table.c[k].type.dialect_impl(dialect).bind_processor(dialect)
                      for k in keys]
        self.memo: list[dict[Any, Any]] = [{} for _ in keys]

    def convert(self, values: dict[str, Any]) -> tuple:
        """Return `values` (a dict with every key) as a converted tuple."""
        out = []
        for k, proc, memo in zip(self.keys, self.procs, self.memo, strict=True):
            v = values[k]
            if proc is not None and v is not None:
                try:
                    v = memo[v]
                except KeyError:
                    v = memo[v] = proc(v)
                except TypeError:  # unhashable
                    v = proc(v)
            out.append(v)
        return tuple(out)

    def write(self, rows: list[tuple]) -> None:
        if not rows:
            return
        # COPY on PostgreSQL (several times faster than executemany), same transaction
        insert_plain(self.conn, self.table, self.keys, rows)


def bulk_insert(conn: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Insert dict rows (all with the same keys) with one driver-level executemany."""
    if rows:
        writer = BulkWriter(conn, table, list(rows[0]))
        writer.write([writer.convert(r) for r in rows])


@contextmanager
def _big_cache(conn: Connection, kib: int = 131_072):
    """SQLite: a larger page cache while the bulk insert grows the indexes (the default 2 MiB
    makes index pages churn at 100k rows); the connection's own size is restored afterwards."""
    if conn.dialect.name != "sqlite":
        yield
        return
    before = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    conn.exec_driver_sql(f"PRAGMA cache_size = -{int(kib)}")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size = {int(before)}")


def allocate_ids(conn: Connection, table: sa.Table, n: int) -> list[int]:
    """Reserve `n` primary keys of `table` (inside a write transaction) for a bulk insert."""
    if n == 0:
        return []
    if conn.dialect.name == "postgresql":
        seq = conn.execute(sa.text(f"SELECT pg_get_serial_sequence('{table.name}', 'id')")).scalar()
        return list(conn.execute(
            sa.text("SELECT nextval(:seq) FROM generate_series(1, :n)"), {"seq": seq, "n": n}
        ).scalars())
    # SQLite: the write transaction holds the database lock, so max(id) cannot move meanwhile
    start = (conn.execute(sa.select(sa.func.max(table.c.id))).scalar() or 0) + 1
    return list(range(start, start + n))


def _fold(policy: Policy, cal, actor: str, recorded_at: datetime, today: date,
          plan: _Plan) -> tuple[dict, list[tuple[dict, str]]]:
    """Fold a plan's moves into cached columns, and its events as (row, hash text after id).

    The hash text is exactly what `chain.event_hash` hashes after the permit id, so a chain
    built from it verifies like any other (tests check this).
    """
    from workflow.permits import cached_fields

    lc = policy.lifecycle
    ptype = policy.permit_types[plan.values["type"]]
    initial = lc.initial
    create = {"type": ptype.code, "level": plan.values["level"], "state": initial,
              "promised_override": plan.values["promised_override"],
              "responsible": plan.values["responsible"]}
    rows = [("create", "create", today, None, create)]
    facts = Facts(state=initial, phase=lc.phase(initial))
    light_on: date | None = None
    for spec, on, data in plan.moves:
        before, new_state = facts.state, spec.dest or facts.state
        facts = apply_move(
            facts, cal=cal, effect=spec.clock, state=new_state, phase=lc.phase(new_state),
            on=on, days=data.get("days"), promised_days=data.get("promised_days"),
        )
        light_on = max(light_on, on) if light_on else on
        # as `permits.advance` records them: the clock effect and phase travel with the move
        rows.append(("move", spec.name, on, IMPORT_REASON if spec.reason else None,
                     move_data(before, new_state, spec.clock, facts.phase, **data)))
    templates = []
    for seq, (kind, event, on, reason, data) in enumerate(rows, start=1):
        text = dump_data(data)
        suffix = json.dumps(
            [seq, kind, event, canonical(on), actor, reason, text, canonical(recorded_at)],
            ensure_ascii=False, separators=(",", ":"),
        )[1:]
        templates.append(({"seq": seq, "kind": kind, "event": event, "on": on, "actor": actor,
                           "reason": reason, "data": text, "recorded_at": recorded_at}, suffix))
    values = cached_fields(facts, ptype, cal, light_on)
    if set(values) != set(FOLDED):  # the permit row grew a cached column: write it too
        raise AssertionError(f"ledger import writes {FOLDED}, the fold gives {sorted(values)}")
    return values, templates


def _write(app: App, conn: Connection, actor: str, today: date, projects: dict,
           existing: dict[str, int], plans: list[_Plan]) -> dict:
    policy, cal = app.policy, app.calendar
    now = utcnow()
    new_codes = [c for c in projects if c not in existing]
    ids = dict(existing)
    ids.update(zip(new_codes, allocate_ids(conn, project_t, len(new_codes)), strict=True))
    if new_codes:
        bulk_insert(conn, project_t, [
            {"id": ids[c], "code": c, "name": projects[c]["project_name"],
             "district": projects[c]["district"], "park": projects[c]["park"],
             "investment": projects[c]["investment"],
             "planned_start": projects[c]["planned_start"], "leader": projects[c]["leader"],
             "contact": projects[c]["contact"], "created_at": now}
            for c in new_codes
        ])
    # campaigns of new projects (existing projects keep theirs)
    wanted: dict[str, list[int]] = {}
    for c in new_codes:
        text = projects[c]["campaigns"] or ""
        for sep in CAMPAIGN_SEPARATORS[1:]:
            text = text.replace(sep, CAMPAIGN_SEPARATORS[0])
        for name in {x.strip() for x in text.split(CAMPAIGN_SEPARATORS[0]) if x.strip()}:
            wanted.setdefault(name, []).append(ids[c])
    if wanted:
        known = dict(conn.execute(
            sa.select(campaign_t.c.name, campaign_t.c.id).where(
                campaign_t.c.name.in_(list(wanted)))
        ).all())
        for name in wanted:
            if name not in known:
                known[name] = conn.execute(
                    campaign_t.insert().values(name=name)).inserted_primary_key[0]
        conn.execute(link_t.insert(), [
            {"project_id": pid, "campaign_id": known[name]}
            for name, pids in wanted.items() for pid in pids
        ])
    permit_ids = allocate_ids(conn, permit_t, len(plans))
    recorded_at = now.replace(tzinfo=None)
    # Rows with the same type, moves and dates share their fold and their event texts; only
    # the permit id and the hash chain differ. That keeps 100k rows to a few seconds.
    folds: dict[int, tuple[tuple, list[tuple[tuple, str]]]] = {}
    # Converted once per fold: the permit columns that do not depend on the row, and the
    # event columns that do not depend on the permit id or the hash chain.
    permit_keys = ["id", "project_id", "version", "head_hash", "created_at",
                   "type", "department", "level", "responsible", "promised_override",
                   *FOLDED]
    event_keys = ["permit_id", "prev_hash", "hash", "seq", "kind", "event", "on", "actor",
                  "reason", "data", "recorded_at"]
    permits_out = BulkWriter(conn, permit_t, permit_keys)
    events_out = BulkWriter(conn, event_t, event_keys)
    created = permits_out.convert({k: now if k == "created_at" else None
                                   for k in permit_keys})[4]
    permit_rows: list[tuple] = []
    events: list[tuple] = []
    written = 0
    for pid, plan in zip(permit_ids, plans, strict=True):
        # rows planned alike share one moves list (see `_Planner.plan_cached`)
        key = id(plan.moves)
        fold = folds.get(key)
        if fold is None:
            values, templates = _fold(policy, cal, actor, recorded_at, today, plan)
            fixed = permits_out.convert({**dict.fromkeys(permit_keys), **plan.values,
                                         **values})[5:]
            converted = [(events_out.convert({**dict.fromkeys(event_keys), **t})[3:], suffix)
                         for t, suffix in templates]
            fold = folds[key] = (fixed, converted)
        fixed, converted = fold
        prev = GENESIS
        head = "[" + str(pid) + ","
        for template, suffix in converted:
            digest = hashlib.sha256((prev + head + suffix).encode("utf-8")).hexdigest()
            events.append((pid, prev, digest, *template))
            prev = digest
        permit_rows.append((pid, ids[plan.project_code], len(converted), prev, created, *fixed))
        if len(permit_rows) >= WRITE_BATCH:  # a batch at a time, all in one transaction
            written += _write_batch(conn, permits_out, permit_rows, events_out, events)
    written += _write_batch(conn, permits_out, permit_rows, events_out, events)
    return {"projects": len(new_codes), "events": written}


def _write_batch(conn: Connection, permits_out: BulkWriter, permit_rows: list[tuple],
                 events_out: BulkWriter, events: list[tuple]) -> int:
    """Write the permit rows and events built so far, empty both lists; return the events."""
    permits_out.write(permit_rows)
    events_out.write(events)
    n = len(events)
    permit_rows.clear()
    events.clear()
    return n
