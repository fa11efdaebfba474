"""The wall chart: escaping, a self-contained page, and the page itself in headless Chromium."""

from __future__ import annotations

import os
import re
import shutil
from datetime import date
from pathlib import Path

import pytest

from tests.report_helpers import load, row
from workflow import problems
from workflow.report.board import render_board, write_board
from workflow.report.completion import completion

EVIL = "<script>alert(1)</script>"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]


def board_population(app, n: int = 500, problems_every: int = 1) -> None:
    """`n` projects over three districts with permits in every phase and light, and problems
    open in every light (and some solved) on every `problems_every`-th project."""
    rows = []
    for i in range(n):
        code = f"B{i:04d}"
        district = ("north", "south", "west")[i % 3]
        kw = {"district": district, "name": EVIL if i == 7 else f"项目 {i}",
              "planned_start": date(2027, 1, 4) if i % 4 else date(2026, 11, 27)}
        rows.append(row(code, "approval", "approved", accepted=date(2026, 9, 1),
                        closed=date(2026, 9, 7 if i % 5 else 15), **kw))
        rows.append(row(code, "land_prereview", "accepted", accepted=date(2026, 11, 16)
                        if i % 2 else date(2026, 11, 18), **kw))
        if i % 3 == 0:
            rows.append(row(code, "eia", "accepted", accepted=date(2026, 10, 12), **kw))  # red
        if i % 7 == 0:
            rows.append(row(code, "energy", "not_required", closed=date(2026, 11, 2), **kw))
        if i % 11 == 0:
            rows.append(row(code, "land_supply", "draft", **kw))
    load(app, rows)
    # today is Friday 2026-11-20: raised on 2 November with 5 days is red, on 16 November
    # with 6 days yellow (2 left) and with 20 days green
    early, late = date(2026, 11, 2), date(2026, 11, 16)
    kinds = {1: ("power", "grid", 5, early), 2: ("environment", "eeb", 6, late),
             3: ("land", "nrp", 20, late), 4: ("environment", "eeb", 5, early),
             5: ("water", "hud", 5, early)}
    for i in range(0, n, problems_every):
        if i % 10 not in kinds:
            continue
        category, owner, days, on = kinds[i % 10]
        text = EVIL if i == 1 else f"问题 {i}"
        q = problems.add(app, f"B{i:04d}", category=category, owner=owner, days=days, on=on,
                         text=text)
        if i % 10 == 5:  # solved: off the chart
            problems.advance(app, q["id"], "resolve", on=date(2026, 11, 5))


def test_user_strings_are_escaped_and_the_page_needs_no_network(app):
    board_population(app, n=12)
    html, data = render_board(app, "en")
    assert EVIL not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert html.count("<script>") == 1  # only the page's own inline script
    assert not re.search(r"\b(src|href)\s*=", html)  # nothing to fetch
    assert "@import" not in html and "url(" not in html
    order = [t["code"] for t in data["types"]]
    assert order.index("land_prereview") < order.index("land_supply")
    total = completion(app, by="type")["total"]
    s = data["summary"]
    assert (s["required"], s["closed"], s["red"], s["yellow"], s["completion_rate"]) == (
        total["required"], total["closed"], total["red"], total["yellow"],
        total["completion_rate"])
    lights = open_problem_lights(app)
    assert (s["problems"], s["problems_red"], s["problems_yellow"], s["problems_green"]) == (
        sum(lights.values()), lights["red"], lights["yellow"], lights["green"])
    assert s["problems_red"] and s["problems_yellow"] and s["problems_green"]


def open_problem_lights(app, district: str | None = None, owner: str | None = None):
    """Open problems by live light from the database (optionally of one district, one owner)."""
    from collections import Counter

    import sqlalchemy as sa

    with app.db.connect() as conn:
        districts = dict(conn.execute(sa.text("SELECT code, district FROM project")).all())
    return Counter(
        q["light"] for q in problems.list_(app, owner=owner)
        if q["phase"] in ("running", "paused")
        and (district is None or districts[q["project"]] == district)
    )


def test_board_cli_in_both_languages(run, tmp_path):
    out = run("board", "--output", str(tmp_path / "b.html"), "--lang", "en")
    assert out.exit_code == 0 and "0 projects" in out.output
    assert "Key projects: permit wall chart" in (tmp_path / "b.html").read_text("utf-8")
    out = run("board", "--output", str(tmp_path / "b.html"))
    assert "挂图作战" in (tmp_path / "b.html").read_text("utf-8")
    out = run("board", "--output", str(tmp_path / "b.pdf"))
    assert out.exit_code == 1 and ".html" in out.output


def _chromium() -> str:
    """Path of the Chromium binary, or skip (fail on CI) with the reason."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        found, why = None, "the playwright package is not installed (pip install -e '.[test]')"
    else:
        why = "Chromium is not installed (Debian: apt-get install chromium)"
    if found:
        return found
    message = f"BROWSER TEST NOT RUN: {why}"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


def test_board_in_headless_chromium(sqlite_app, tmp_path):
    executable = _chromium()
    from playwright.sync_api import sync_playwright

    app = sqlite_app
    board_population(app, n=500)
    path = tmp_path / "board.html"
    result = write_board(app, path, lang="zh")
    assert result["projects"] == 500
    total = completion(app, by="type")["total"]
    district = {r["key"]: r for r in completion(app, by="district")["rows"]}
    import sqlalchemy as sa

    with app.db.connect() as conn:
        projects_north = conn.execute(
            sa.text("SELECT count(*) FROM project WHERE district = 'north'")).scalar()
        red_eia_north = conn.execute(sa.text(
            "SELECT count(DISTINCT p.project_id) FROM permit p JOIN project j ON j.id = "
            "p.project_id WHERE j.district = 'north' AND p.department = 'eeb' "
            "AND p.phase IN ('running', 'paused')")).scalar()
        yellow_permits = set(conn.execute(sa.text(
            "SELECT j.code FROM permit p JOIN project j ON j.id = p.project_id "
            "WHERE p.type = 'land_prereview' AND p.accepted_on = :d"),
            {"d": (date(2026, 11, 16) - date(1970, 1, 1)).days}).scalars())
    # the light filter picks projects by their permits' lights and their problems' alike
    yellow_problems = {q["project"] for q in problems.list_(app, light="yellow")
                       if q["phase"] == "running"}
    yellow_projects = len(yellow_permits | yellow_problems)
    assert red_eia_north > 0 and yellow_permits and yellow_problems - yellow_permits
    assert red_eia_north == projects_north  # so the eeb + red filter leaves the north as it is
    everywhere, north = open_problem_lights(app), open_problem_lights(app, "north")
    eeb_north = open_problem_lights(app, "north", "eeb")
    assert eeb_north["red"] and eeb_north["yellow"] and not eeb_north["green"]

    dialogs: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto(path.as_uri())

            def stat(key: str) -> str:
                return page.locator(f'[data-stat="{key}"]').inner_text()

            def problem_stats() -> list[str]:
                return [stat(k) for k in ("problems", "problems_red", "problems_yellow",
                                          "problems_green")]

            def expected(lights) -> list[str]:
                return [str(sum(lights.values())),
                        *(str(lights[k]) for k in ("red", "yellow", "green"))]

            assert stat("projects") == "500"
            assert stat("required") == str(total["required"])
            assert stat("closed") == str(total["closed"])
            assert stat("red") == str(total["red"])
            assert stat("yellow") == str(total["yellow"])
            assert stat("completion_rate") == f"{total['completion_rate']:.2f}"
            assert problem_stats() == expected(everywhere)  # open problems by live light
            assert page.locator("tr.project").count() == 500
            evil = page.locator('tr[data-code="B0007"] .name')
            assert evil.inner_text() == EVIL
            assert page.locator(".pnode").count() == sum(everywhere.values())
            assert EVIL in page.locator('tr[data-code="B0001"] .pnode').get_attribute("title")

            page.select_option("#f-district", "north")
            assert stat("projects") == str(projects_north)
            assert stat("required") == str(district["north"]["required"])
            assert stat("closed") == str(district["north"]["closed"])
            assert stat("completion_rate") == f"{district['north']['completion_rate']:.2f}"
            assert page.locator("tr.project:visible").count() == projects_north
            assert problem_stats() == expected(north)

            page.select_option("#f-department", "eeb")
            page.select_option("#f-light", "red")
            assert stat("projects") == str(red_eia_north)  # eia permits are all in the north
            assert stat("red") == str(red_eia_north)  # and all red
            assert stat("required") == str(red_eia_north)  # only eeb's permits are counted
            assert page.locator("tr.project:visible").count() == red_eia_north
            assert problem_stats() == expected(eeb_north)  # only eeb's problems are counted
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "board-filtered.png"))
            page.select_option("#f-district", "")
            page.select_option("#f-department", "")
            page.select_option("#f-light", "yellow")
            assert stat("projects") == str(yellow_projects)  # one or two working days left
            page.select_option("#f-light", "")
            assert stat("projects") == "500"
            assert problem_stats() == expected(everywhere)
            page.screenshot(path=str(ARTIFACTS / "board.png"))
        finally:
            browser.close()
    assert dialogs == []  # the project named <script> never ran
    assert all(u.startswith("file://") for u in requests)
    assert (ARTIFACTS / "board.png").stat().st_size > 10_000
