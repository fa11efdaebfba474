"""The ledger: export, import, round trip, all-or-nothing refusals, encodings, injection."""

from __future__ import annotations

import csv
from datetime import date

import pytest

from tests.conftest import dump, make_app
from tests.helpers import as_actor, permit, project, setup_departments
from tests.report_helpers import HEADER, load, row
from workflow.errors import BadData, NotAllowed
from workflow.report import ledger

EVIL = "=HYPERLINK(\"http://x\",\"y\")"
TRICKY = 'Tab\there \\N "q" 换行\nline'  # COPY and CSV escaping


def fresh_sqlite(tmp_path, name="target.db"):
    from workflow.setup import init

    target = make_app(f"sqlite:///{tmp_path / name}")
    init(target)
    return target


def varied(app) -> None:
    """Projects with every kind of history, some made through the lifecycle, some imported."""
    setup_departments(app)
    project(app, "LIB-1", name=EVIL, district="north", park="高新区", investment=12500.5,
            planned_start=date(2027, 3, 1), leader="王副市长", contact="李四",
            campaigns=("百日攻坚", "冬季行动"))
    project(app, "LIB-2", name="<script>alert(1)</script>", district="south")
    permit(app, "LIB-1", "approval", ("accept", date(2026, 10, 12)),
           ("suspend", date(2026, 10, 14), {"reason": "补正"}),
           ("resume", date(2026, 10, 21)), ("approve", date(2026, 10, 28)), level="municipal")
    permit(app, "LIB-1", "eia", ("accept", date(2026, 11, 2)),
           ("extend", date(2026, 11, 5), {"reason": "专家评审", "days": 3}),
           ("suspend", date(2026, 11, 9), {"reason": "补正"}))
    permit(app, "LIB-1", "land_prereview", ("prepare", date(2026, 11, 3)))
    permit(app, "LIB-2", "energy", ("accept", date(2026, 10, 8)),
           ("reject", date(2026, 11, 10), {"reason": "不符合"}), level="municipal")
    permit(app, "LIB-2", "safety", ("accept", date(2026, 11, 2)),
           ("withdraw", date(2026, 11, 4), {"reason": "撤回"}))
    permit(app, "LIB-2", "power", promised_days=15)
    # paused after its limit ran out (due 2026-10-26 stays), then paused again while running
    project(app, "LIB-3", name="Late pause", district="south")
    permit(app, "LIB-3", "eia", ("accept", date(2026, 10, 12)),
           ("suspend", date(2026, 10, 28), {"reason": "听证"}), ("resume", date(2026, 11, 4)))
    permit(app, "LIB-3", "approval", ("accept", date(2026, 11, 2)),
           ("suspend", date(2026, 11, 3), {"reason": "补正"}), ("resume", date(2026, 11, 5)),
           ("suspend", date(2026, 11, 16), {"reason": "补正"}), level="provincial")
    load(app, [
        row("IMP-1", "approval", "accepted", accepted=date(2026, 11, 16), extension=2),
        row("IMP-1", "eia", "approved", accepted=date(2026, 8, 3), closed=date(2026, 9, 1),
            paused=4),
        row("IMP-2", "stability", "not_required", closed=date(2026, 11, 1), district="west",
            name=TRICKY),
    ])


def rows_of(path):
    if path.suffix == ".csv":
        with open(path, encoding="utf-8", newline="") as f:
            return list(csv.reader(f))
    from openpyxl import load_workbook

    return [list(r) for r in load_workbook(path).active.iter_rows(values_only=True)]


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_export_then_import_reproduces_the_ledger(app, tmp_path, suffix):
    varied(app)
    first = tmp_path / f"first{suffix}"
    assert ledger.export(app, first)["rows"] == 11
    target = fresh_sqlite(tmp_path)
    result = ledger.import_(target, first)
    assert (result["permits"], result["projects"]) == (11, 5)
    second = tmp_path / f"second{suffix}"
    ledger.export(target, second)
    assert rows_of(second) == rows_of(first)
    from workflow.rebuild import rebuild

    assert rebuild(target, check_only=True) == {"checked": 11, "differing": 0,
                                                "tally_differing": 0}
    assert_chains_verify(target)
    assert_chains_verify(app)  # the source holds imported rows too
    from workflow import projects

    for a in (app, target):
        assert projects.show(a, "IMP-2")["name"] == TRICKY
    p = projects.show(target, "LIB-1")
    assert p["name"] == EVIL and p["campaigns"] == ["冬季行动", "百日攻坚"]
    assert p["investment"] == 12500.5 and p["planned_start"] == "2027-03-01"


def test_export_layout(sqlite_app, tmp_path):
    app = sqlite_app
    varied(app)
    from openpyxl import load_workbook

    path = tmp_path / "ledger.xlsx"
    ledger.export(app, path, lang="en")
    ws = load_workbook(path).active
    assert ws.freeze_panes == "C2"
    header = [c.value for c in ws[1]]
    assert header[:2] == ["Project code", "Project name"] and "Light" in header
    light = header.index("Light") + 1
    by_ref = {(r[0].value, r[9].value): r for r in ws.iter_rows(min_row=2)}
    approval = by_ref[("LIB-1", "approval")]
    assert approval[1].value == "'" + EVIL  # a formula shown as text, never run
    assert approval[1].data_type == "s"
    assert approval[light - 1].value == "green"
    assert approval[light - 1].fill.fgColor.rgb.endswith("C6EFCE")
    rejected = by_ref[("LIB-2", "energy")]
    assert rejected[light - 1].value == "red"
    assert rejected[light - 1].fill.fgColor.rgb.endswith("FFC7CE")

    csv_path = tmp_path / "ledger.csv"
    ledger.export(app, csv_path)
    raw = csv_path.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf") and raw.decode("utf-8").startswith("项目代码,")
    assert "'" + EVIL.replace('"', '""') in raw.decode("utf-8")
    ledger.export(app, csv_path, bom=True)
    assert csv_path.read_bytes().startswith(b"\xef\xbb\xbf")


def test_three_bad_rows_are_all_listed_and_nothing_is_written(app, run, tmp_path):
    setup_departments(app)
    load(app, [row("OK-0", "approval", "draft")])
    path = tmp_path / "bad.csv"
    rows = [
        row("OK-1", "approval", "accepted", accepted=date(2026, 11, 2)),
        row("BAD-1", "no_such_type", "draft"),                                   # row 3
        row("OK-2", "eia", "approved", accepted=date(2026, 11, 2)),
        row("BAD-2", "eia", "approved", accepted=date(2026, 11, 10),             # row 5
            closed=date(2026, 11, 2)),
        row("BAD-3", "energy", "accepted", accepted=date(2026, 11, 2)),
    ]
    rows[2][HEADER.index("closed_on")] = "2026-11-12"
    rows[4][HEADER.index("accepted_on")] = "someday"                             # row 6
    with open(path, "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([HEADER, *rows])
    before = dump(app.settings.db_url)
    out = run("ledger", "import", str(path))
    assert out.exit_code == 1
    lines = [x for x in out.output.splitlines() if x.startswith("row ")]
    assert lines == [
        "row 3, column type: unknown permit type 'no_such_type'",
        "row 5, column closed_on: 2026-11-02 is before the acceptance date 2026-11-10",
        "row 6, column accepted_on: 'someday' is not a date (YYYY-MM-DD)",
    ]
    assert "nothing written" in out.output
    assert dump(app.settings.db_url) == before


def test_import_refusals_change_nothing(app, tmp_path):
    setup_departments(app)
    load(app, [row("P1", "approval", "draft")])
    before = dump(app.settings.db_url)
    with pytest.raises(NotAllowed):
        load(as_actor(app, "reader"), [row("P2", "approval", "draft")])
    with pytest.raises(ledger.LedgerErrors) as e:
        load(app, [row("P1", "approval", "draft"), row("P3", "eia", "draft"),
                   row("P3", "eia", "draft")])
    assert e.value.errors == [
        "row 2, column type: permit P1/approval already exists",
        "row 4, column type: permit P3/eia already given in row 3",
    ]
    with pytest.raises(ledger.LedgerErrors) as e:
        load(app, [row("P4", "eia", "accepted", accepted=date(1999, 1, 4))])
    assert e.value.errors == ["row 2, column accepted_on: 1999-01-04 is outside the calendar "
                              "(2000-01-01 to 2060-12-31)"]
    with pytest.raises(ledger.LedgerErrors) as e:
        ledger.import_rows(app, ["项目代码", "颜色"], [["P9", "red"]])
    assert e.value.errors[0] == "row 1, column 颜色: unknown column"
    assert any("required column missing" in x for x in e.value.errors)
    assert dump(app.settings.db_url) == before


def test_gbk_csv_with_chinese_headers(sqlite_app, tmp_path):
    app = sqlite_app
    path = tmp_path / "gbk.csv"
    text = ("项目代码,项目名称,区县,事项代码,状态代码,受理日期\n"
            "G-1,城南污水处理厂,城南区,eia,accepted,2026-11-16\n")
    path.write_bytes(text.encode("gbk"))
    assert ledger.import_(app, path)["permits"] == 1
    from workflow import permits

    view = permits.show(app, "G-1/eia")
    assert view["project_name"] == "城南污水处理厂" and view["district"] == "城南区"
    assert view["state"] == "accepted" and view["accepted_on"] == "2026-11-16"


def test_cli_export_in_english(sqlite_app, tmp_path):
    from tests.conftest import Runner

    run = Runner(sqlite_app.settings.db_url)
    path = tmp_path / "ledger.csv"
    out = run("ledger", "export", str(path), "--lang", "en")
    assert out.exit_code == 0 and "0 permits" in out.output
    assert rows_of(path)[0][:2] == ["Project code", "Project name"]
    out = run("ledger", "export", str(tmp_path / "ledger.txt"))
    assert out.exit_code == 1 and "xlsx or .csv" in out.output


def assert_chains_verify(app) -> None:
    """Every imported event's hash is what `chain.event_hash` computes from its content."""
    import sqlalchemy as sa

    from workflow.domain.chain import GENESIS, event_hash
    from workflow.store.events import event_t

    with app.db.connect() as conn:
        events = conn.execute(sa.select(event_t).order_by(event_t.c.permit_id, event_t.c.seq))
        prev: dict[int, str] = {}
        n = 0
        for e in events:
            expected_prev = prev.get(e.permit_id, GENESIS)
            assert e.prev_hash == expected_prev
            assert e.hash == event_hash(
                expected_prev, subject=e.permit_id, seq=e.seq, kind=e.kind, event=e.event,
                on=e.on, actor=e.actor, reason=e.reason, data=e.data,
                recorded_at=e.recorded_at.replace(tzinfo=None),
            )
            prev[e.permit_id] = e.hash
            n += 1
    assert n > 0


def test_import_adds_permits_to_existing_projects(sqlite_app):
    app = sqlite_app
    load(app, [row("P1", "approval", "draft", district="east", campaigns="冬季行动")])
    result = load(app, [row("P1", "eia", "accepted", accepted=date(2026, 11, 16),
                            district="other", campaigns="别的"),
                        row("P2", "eia", "draft")])
    assert (result["permits"], result["projects"], result["existing_projects"]) == (2, 1, 1)
    from workflow import projects

    p1 = projects.show(app, "P1")
    assert p1["district"] == "east" and p1["campaigns"] == ["冬季行动"]
    assert [x["type"] for x in p1["permit_list"]] == ["approval", "eia"]


@pytest.mark.parametrize("name", ["=1+1", "+1+1", "-1+1", "@SUM(A1)"])
def test_every_formula_start_is_shown_as_text_in_csv_and_xlsx(sqlite_app, tmp_path, name):
    from openpyxl import load_workbook

    setup_departments(sqlite_app)
    project(sqlite_app, "F-1", name=name, district=name)
    permit(sqlite_app, "F-1", "approval")
    for suffix in (".csv", ".xlsx"):
        path = tmp_path / f"ledger{suffix}"
        ledger.export(sqlite_app, path)
        cells = [c for r in rows_of(path)[1:] for c in r if isinstance(c, str)]
        assert cells.count("'" + name) == 2, suffix  # the project name and its district
        assert not any(c.startswith(("=", "+", "@")) for c in cells), suffix
    ws = load_workbook(tmp_path / "ledger.xlsx").active
    assert all(c.data_type != "f" for r in ws.iter_rows() for c in r)


def test_import_written_in_batches_is_whole_or_nothing(app, tmp_path, monkeypatch):
    """A ledger is written a batch at a time in one transaction: batches give the same rows
    as one write, and a failure in a later batch leaves nothing of the earlier ones."""
    setup_departments(app)
    rows = [row(f"B{i}", t, "accepted", accepted=date(2026, 11, 2 + i % 10))
            for i in range(7) for t in ("approval", "eia")]
    reference = fresh_sqlite(tmp_path, "whole.db")
    setup_departments(reference)
    load(reference, rows)
    monkeypatch.setattr(ledger, "WRITE_BATCH", 3)
    calls = []
    real = ledger._write_batch

    def failing(*args):
        calls.append(1)
        if len(calls) == 3:
            raise OSError("disk full")
        return real(*args)

    before = dump(app.settings.db_url)
    monkeypatch.setattr(ledger, "_write_batch", failing)
    with pytest.raises(OSError):
        load(app, rows)
    assert len(calls) == 3 and dump(app.settings.db_url) == before
    monkeypatch.setattr(ledger, "_write_batch", real)
    assert load(app, rows) == {"projects": 7, "permits": 14, "events": 28,
                               "existing_projects": 0}
    from workflow import permits

    for r in rows:
        ref = f"{r[0]}/{r[5]}"
        assert permits.show(app, ref) == permits.show(reference, ref)
    assert_chains_verify(app)


def test_a_ledger_file_read_row_by_row_keeps_its_row_numbers(sqlite_app, tmp_path):
    app = sqlite_app
    path = tmp_path / "blank-first.csv"
    path.write_text("\n,\nP1,Project,x\n", encoding="utf-8")
    with pytest.raises(ledger.LedgerErrors) as e:  # the first row is the header, even blank
        ledger.import_(app, path)
    assert any("required column missing" in x for x in e.value.errors)
    path.write_text("project_code,project_name,type,state\n\nP1,One,eia,bogus\n",
                    encoding="utf-8")
    with pytest.raises(ledger.LedgerErrors) as e:
        ledger.import_(app, path)
    assert e.value.errors[0].startswith("row 3, column state:")
    for text in ("", "\n,,\n\n"):
        path.write_text(text, encoding="utf-8")
        with pytest.raises(BadData, match="empty file"):
            ledger.import_(app, path)


def _open_handles(path) -> int:
    import os

    fds = "/proc/self/fd"
    return sum(1 for fd in os.listdir(fds)
               if os.path.realpath(os.path.join(fds, fd)) == os.path.realpath(path))


@pytest.mark.skipif(not __import__("os").path.isdir("/proc/self/fd"), reason="needs /proc")
def test_an_xlsx_ledger_is_closed_after_a_refusal_and_a_damaged_sheet_is_one_error(
        sqlite_app, tmp_path):
    import zipfile

    from openpyxl import Workbook

    app = sqlite_app
    bad_header = tmp_path / "bad-header.xlsx"
    wb = Workbook()
    wb.active.append(["项目代码", "颜色"])
    wb.active.append(["P9", "red"])
    wb.save(bad_header)
    with pytest.raises(ledger.LedgerErrors) as e:
        ledger.import_(app, bad_header)
    assert _open_handles(bad_header) == 0  # closed although its rows were never read
    del e
    good = tmp_path / "good.xlsx"
    wb = Workbook()
    wb.active.append(HEADER)
    for i in range(300):
        wb.active.append([str(v) for v in row(f"X{i}", "eia", "draft")])
    wb.save(good)
    damaged = tmp_path / "damaged.xlsx"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(damaged, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = data[: len(data) * 2 // 3]  # cut off part-way through the rows
            dst.writestr(item, data)
    before = dump(app.settings.db_url)
    with pytest.raises(BadData, match="damaged.xlsx: not a readable xlsx file"):
        ledger.import_(app, damaged)
    assert _open_handles(damaged) == 0 and dump(app.settings.db_url) == before
    assert ledger.import_(app, good)["permits"] == 300
