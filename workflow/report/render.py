"""Write report tables as CSV, Markdown and xlsx, with the same numbers in every format.

Rates are numbers with two decimals (78.08); an empty denominator shows as an empty cell in CSV
and xlsx and as `-` in Markdown. Text cells that a spreadsheet would run as a formula (starting
with = + - @, tab or carriage return) are written with a leading apostrophe.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from workflow.report.i18n import t

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
RATE_KEYS = frozenset({"completion_rate", "on_time_rate", "avg_days_to_close"})
LIGHT_FILL = {"red": "FFC7CE", "yellow": "FFEB9C", "green": "C6EFCE"}


def safe_text(value: Any) -> Any:
    """Neutralise spreadsheet formula injection in a text cell (numbers pass unchanged)."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def unsafe_text(value: str) -> str:
    """Undo `safe_text` on a cell read back from a file."""
    if value.startswith("'") and value[1:2] and value[1:].startswith(FORMULA_START):
        return value[1:]
    return value


def cell_text(key: str, value: Any) -> str:
    if value is None:
        return ""
    if key in RATE_KEYS and isinstance(value, (int, float)):
        return f"{value:.2f}"
    return str(value)


def completion_table(report: dict) -> tuple[list[tuple[str, str]], list[dict]]:
    """Columns (key, header) and rows (with the total last) of a completion report."""
    lang = report["lang"]
    columns = [("name", t(f"by.{report['by']}", lang))] + [(k, t(k, lang)) for k in
                                                           report["columns"]]
    return columns, [*report["rows"], report["total"]]


def to_csv(columns: Sequence[tuple[str, str]], rows: Sequence[dict]) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow([safe_text(h) for _, h in columns])
    for r in rows:
        w.writerow([safe_text(cell_text(k, r.get(k))) if not isinstance(r.get(k), (int, float))
                    else cell_text(k, r.get(k)) for k, _ in columns])
    return out.getvalue()


def md_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def to_markdown(columns: Sequence[tuple[str, str]], rows: Sequence[dict]) -> str:
    lines = ["| " + " | ".join(md_escape(h) for _, h in columns) + " |"]
    lines.append("|" + "|".join(" --- " if i == 0 else " ---: " for i in range(len(columns))) + "|")
    for r in rows:
        cells = [md_escape(cell_text(k, r.get(k))) or "-" for k, _ in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def completion_markdown(report: dict) -> str:
    lang = report["lang"]
    columns, rows = completion_table(report)
    head = f"# {report['title']}\n\n{t('as_of', lang)} {report['as_of']}"
    if report.get("campaign"):
        head += f" · {t('campaign_filter', lang)}: {md_escape(report['campaign'])}"
    return head + "\n\n" + to_markdown(columns, rows)


def write_sheet(ws, columns: Sequence[tuple[str, str]], rows: Sequence[dict],
                light_key: str | None = None, title: str | None = None) -> None:
    """Fill an openpyxl worksheet: bold frozen header, numbers as numbers, lights as fills."""
    from openpyxl.styles import Font, PatternFill

    start = 1
    if title:
        ws.cell(row=1, column=1, value=safe_text(title)).font = Font(bold=True, size=13)
        start = 3
    for c, (_, header) in enumerate(columns, 1):
        ws.cell(row=start, column=c, value=safe_text(header)).font = Font(bold=True)
    fills = {k: PatternFill("solid", fgColor=v) for k, v in LIGHT_FILL.items()}
    light_col = None
    for c, (k, _) in enumerate(columns, 1):
        if light_key is not None and k in (light_key, f"{light_key}_name"):
            light_col = c
    for i, r in enumerate(rows, start + 1):
        for c, (k, _) in enumerate(columns, 1):
            v = r.get(k)
            cell = ws.cell(row=i, column=c, value=safe_text(v))
            if k in RATE_KEYS and isinstance(v, (int, float)):
                cell.number_format = "0.00"
        if light_col is not None and r.get(light_key) in fills:
            ws.cell(row=i, column=light_col).fill = fills[r[light_key]]
    ws.freeze_panes = ws.cell(row=start + 1, column=2)
    for c, (_, header) in enumerate(columns, 1):
        letter = ws.cell(row=start, column=c).column_letter
        ws.column_dimensions[letter].width = max(10, min(40, len(str(header)) * 2 + 2))


def completion_xlsx(report: dict, path: Path) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = report["by"]
    columns, rows = completion_table(report)
    title = f"{report['title']} ({t('as_of', report['lang'])} {report['as_of']})"
    write_sheet(ws, columns, rows, title=title)
    wb.save(path)
