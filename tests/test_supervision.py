"""Supervision: escalation policy, notices issued by the sweep, their lifecycle and rendering,
delivery through the outbox to a real SMTP server and a real HTTP robot, and the scheduler."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from datetime import UTC, date, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from tests.conftest import PG_URL, TODAY, Runner, dump, make_app
from tests.helpers import as_actor, make_daily_job_due, permit, project, setup_departments
from workflow import notices
from workflow.app import App, Settings
from workflow.errors import InvalidMove, NotAllowed, PolicyError
from workflow.notify.outbox import deliver, list_deliveries, redeliver
from workflow.policy import default_policy_dir, load_escalation, load_policy
from workflow.schedule import daily, due_today, start, status
from workflow.setup import init
from workflow.sweep import sweep

LATE = date(2026, 10, 20)  # an eia accepted then (10 working days) is red on TODAY


# -- helpers -------------------------------------------------------------------------------------

def deep_update(base: dict, changes: dict) -> dict:
    for k, v in changes.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            deep_update(base[k], v)
        else:
            base[k] = v
    return base


def policies_with(tmp_path: Path, changes: dict) -> Path:
    """A copy of the shipped policies with `changes` merged into escalation.yaml."""
    dst = tmp_path / f"policies-{len(list(tmp_path.glob('policies-*')))}"
    shutil.copytree(default_policy_dir(), dst)
    path = dst / "escalation.yaml"
    esc = deep_update(yaml.safe_load(path.read_text(encoding="utf-8")), changes)
    path.write_text(yaml.safe_dump(esc, allow_unicode=True), encoding="utf-8")
    return dst


def with_policies(app: App, policies: Path, actor: str | None = "admin",
                  today: date = TODAY) -> App:
    return App(Settings(db_url=app.settings.db_url, actor=actor, today=today,
                        policies=policies))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeClock:
    """A controllable clock: `sleep` moves time on instantly. It starts an hour ahead of real
    time so that deliveries queued (at real time) during the test are due."""

    def __init__(self, start: datetime | None = None):
        self.t = start or datetime.now(UTC) + timedelta(hours=1)
        self.lock = threading.Lock()

    def now(self) -> datetime:
        with self.lock:
            return self.t

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.t += timedelta(seconds=seconds)


class Robot:
    """A real local HTTP server speaking the group-robot protocol."""

    def __init__(self, clock: FakeClock | None = None, secret: str | None = None):
        self.port = free_port()
        self.clock = clock
        self.secret = secret
        self.received: list[dict] = []
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/robot/send?access_token=TOKEN-s3cr3t"

    def start(self) -> Robot:
        robot = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
                robot.received.append({
                    "query": query, "json": json.loads(body),
                    "key": self.headers.get("X-Workflow-Message-Key"),
                    "at": robot.clock.now() if robot.clock else None,
                })
                answer = {"errcode": 0, "errmsg": "ok"}
                if robot.secret and not robot.verify(query):
                    answer = {"errcode": 310000, "errmsg": "sign not match"}
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def verify(self, query: dict) -> bool:
        ts = query.get("timestamp", "")
        expected = base64.b64encode(hmac.new(
            self.secret.encode(), f"{ts}\n{self.secret}".encode(), hashlib.sha256
        ).digest()).decode()
        return bool(ts) and query.get("sign") == expected

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


class Mailbox:
    """A real local SMTP server (aiosmtpd) that requires a login (and STARTTLS with `tls`)."""

    def __init__(self, password: str = "pw-Xyz-123", tls=None):
        self.port = free_port()
        self.password = password
        self.tls = tls
        self.messages: list = []
        self.controller = None

    def start(self) -> Mailbox:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword

        box = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                import email
                import email.policy

                box.messages.append(email.message_from_bytes(envelope.original_content,
                                                              policy=email.policy.default))
                return "250 OK"

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = (isinstance(auth_data, LoginPassword) and auth_data.login == b"office"
                  and auth_data.password == box.password.encode())
            return AuthResult(success=ok)

        tls = ({"tls_context": self.tls, "require_starttls": True, "auth_require_tls": True}
               if self.tls else {"auth_require_tls": False})
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port,
                                     authenticator=authenticator, **tls)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller:
            self.controller.stop()
            self.controller = None


def red_permits(app: App, n: int, dept_types=("eia",), leader: str | None = None) -> None:
    for i in range(n):
        code = f"P{i + 1:03d}"
        project(app, code, leader=leader)
        for t in dept_types:
            permit(app, code, t, ("accept", LATE))


def count(app: App, table: str, where: str = "1=1") -> int:
    with app.db.connect() as conn:
        return conn.execute(sa.text(f"SELECT count(*) FROM {table} WHERE {where}")).scalar()


# -- policy ---------------------------------------------------------------------------------------

def test_escalation_policy_errors_name_file_and_key(tmp_path):
    assert load_policy().escalation.levels["supervision"].rectify_within == 5
    cases = [
        ({"levels": {"supervision": {"number": "督办第号"}}}, "levels.supervision.number"),
        ({"recipients": {"bulletin": {"robots": ["nope"]}}}, "recipients.bulletin.robots"),
        ({"levels": {"escalation": {"after": "reminder"}}}, "levels.escalation.after"),
        ({"delivery": {"max_attempts": 0}}, "delivery.max_attempts"),
        ({"schedule": {"daily": "8:30pm"}}, "schedule.daily"),
        ({"schedule": {"timezone": "Mars/Base"}}, "schedule.timezone"),
        ({"recipients": {"departments": {"xyz": {}}}}, "recipients.departments.xyz"),
    ]
    with pytest.raises(PolicyError) as e:  # through the whole loader once
        load_policy(policies_with(tmp_path, cases[0][0]))
    assert "escalation.yaml: levels.supervision.number" in str(e.value)
    shipped = yaml.safe_load((default_policy_dir() / "escalation.yaml").read_text("utf-8"))
    departments = load_policy().departments
    for changes, key in cases:
        with pytest.raises(PolicyError) as e:
            load_escalation(deep_update(json.loads(json.dumps(shipped)), changes),
                            "policies/escalation.yaml", departments)
        assert f"policies/escalation.yaml: {key}" in str(e.value), str(e.value)


# -- issuing --------------------------------------------------------------------------------------

def test_sweep_issues_one_bundled_numbered_notice_per_department_once(app, run):
    setup_departments(app)
    red_permits(app, 2, dept_types=("eia", "approval"))
    sweep(app, dry_run=True)
    assert count(app, "notice") == 0  # a dry run issues nothing
    result = sweep(app)
    assert result["matters"] == {"supervision": 4} and result["notices"] == 2
    rows = json.loads(run("notice", "list", "--json").output)
    assert sorted(r["number"] for r in rows) == ["督办〔2026〕第0001号", "督办〔2026〕第0002号"]
    assert {r["addressee"]: r["matters"] for r in rows} == {"eeb": 2, "drc": 2}
    before = dump(app.settings.db_url)
    again = sweep(app)  # a re-run of the same day issues nothing, changes nothing but the run row
    assert again["notices"] == 0 and again["changed"] == 0
    assert [t for t in dump(app.settings.db_url) if t[0] != "sweep_run"] == [
        t for t in before if t[0] != "sweep_run"]
    later = sweep(app, day=TODAY + timedelta(days=3))  # still red: same episode, no notice
    assert later["notices"] == 0
    assert count(app, "notice_matter") == 4 and count(app, "delivery") == 2
    shown = json.loads(run("notice", "show", "督办〔2026〕第0001号", "--json").output)
    m = shown["matters"][0]
    assert m["time_limit"] == "2026-11-27" and m["overdue_days"] >= 1 and m["episode"] == 1
    # numbering runs on per year
    permit(app, "P001", "land_prereview", ("accept", date(2026, 11, 2)))
    sweep(app, day=date(2027, 1, 4))
    numbers = {r["number"] for r in notices.list_(app)}
    assert "督办〔2027〕第0001号" in numbers


@pytest.mark.parametrize("changes", [
    {"reminder": {"to": "leader"}},
    {"reminder": {"to": "leader", "bundle": False}, "supervision": {"to": "leader"}},
], ids=["bundled", "one-per-matter"])
def test_notices_written_by_the_database_match_the_domain_bundling(app, tmp_path, changes):
    """The sweep writes a light level's matters with INSERT ... SELECT; the pure domain
    functions (`matters_for`, `bundle`) are the oracle: the same notices, in the same order,
    listing the same matters in the same order with the same figures."""
    from workflow import permits, projects
    from workflow.domain.escalation import Candidate, bundle, matters_for, rules_from_policy

    pol = policies_with(tmp_path, {"levels": changes})
    app = with_policies(app, pol)
    setup_departments(app)
    leaders = [None, "王五", " 赵六 ", "\u3000", "王五"]
    refs = []
    for i in range(15):  # accepted a day apart: green, yellow and red of every overdue
        code = f"P{i + 1:03d}"
        project(app, code, leader=leaders[i % len(leaders)])
        for t in ("eia", "approval"):
            permit(app, code, t, ("accept", LATE + timedelta(days=2 * i)),
                   responsible=f"r{i}" if i % 3 else None)
            refs.append(f"{code}/{t}")
    result = sweep(app)
    rules = {r.name: r for r in rules_from_policy(app.policy.escalation.levels)}
    limit = {n: app.calendar.add_workdays(TODAY, r.rectify_within) if r.rectify_within else None
             for n, r in rules.items()}
    leader_of = {c: projects.show(app, c)["leader"] for c in {r.split("/")[0] for r in refs}}
    with app.db.connect() as conn:
        ids = dict(conn.execute(sa.text(
            "SELECT pr.code || '/' || p.type, p.id FROM permit p "
            "JOIN project pr ON pr.id = p.project_id")).all())
    expected = []
    for name, rule in rules.items():
        if rule.light is None:
            continue
        candidates = []
        for ref in refs:
            v = permits.show(app, ref)
            if v["light"] == rule.light:
                candidates.append(Candidate(
                    permit_id=ids[ref], level=name, department=v["department"],
                    leader=leader_of[ref.split("/")[0]], responsible=v["responsible"],
                    light=v["light"], due_on=date.fromisoformat(v["due_on"]),
                    remaining=v["remaining_days"], last_episode=0))
        expected += matters_for(candidates, rules, limit[name])
    want = [(key, [(m.permit_id, m.episode, m.department, m.light, m.due_on,
                    m.remaining_days, m.overdue_days, m.time_limit, m.responsible)
                   for m in items]) for key, items in bundle(expected, rules)]
    got = []
    for n in sorted(notices.list_(app), key=lambda n: n["id"]):
        shown = notices.show(app, str(n["id"]))
        with app.db.connect() as conn:
            matters = conn.execute(sa.text(
                "SELECT permit_id, episode, department, light, due_on, remaining_days, "
                "overdue_days, time_limit, responsible FROM notice_matter "
                "WHERE notice_id = :n ORDER BY overdue_days DESC, id"), {"n": n["id"]}).all()
        got.append(((shown["level"], shown["addressee_kind"], shown["addressee"]), [
            (pid, ep, dept, light, _day(due), left, over, _day(tl), resp)
            for pid, ep, dept, light, due, left, over, tl, resp in matters]))
    assert {k[0] for k, _ in want} == {"reminder", "supervision"}
    assert {k[1] for k, _ in want} == {"leader", "department"}
    assert got == want
    assert result["matters"] == {k: sum(len(v) for key, v in want if key[0] == k)
                                 for k in ("reminder", "supervision")}


def _day(n: int | None) -> date | None:
    from workflow.domain.calendar import from_day_number

    return from_day_number(n) if n is not None else None


def test_episode_ends_when_red_leaves_and_a_new_one_notifies_again(sqlite_app):
    app = sqlite_app
    setup_departments(app)
    project(app, "P1")
    permit(app, "P1", "eia", ("accept", date(2026, 11, 3)))  # due 11-17: red on 11-20
    sweep(app)
    clerk = as_actor(app, "clerk.eeb")
    from workflow import permits

    permits.advance(clerk, "P1/eia", "extend", days=10, reason="expert review")
    sweep(app, day=date(2026, 11, 23))  # yellow/green now: the red episode ends
    with app.db.connect() as conn:
        ended = conn.execute(sa.text("SELECT ended_on FROM notice_matter")).scalar()
    assert ended is not None
    sweep(app, day=date(2026, 12, 4))  # red again: a second episode, a second notice
    rows = json.loads(json.dumps(notices.list_(app, level="supervision")))
    assert len(rows) == 2
    with app.db.connect() as conn:
        assert sorted(r[0] for r in conn.execute(sa.text(
            "SELECT episode FROM notice_matter WHERE level = 'supervision'"))) == [1, 2]


def test_reminder_on_yellow_and_escalation_when_the_time_limit_passes(sqlite_app, tmp_path):
    pol = policies_with(tmp_path, {"recipients": {"bulletin": {"email": ["office@example.org"]}},
                                   "levels": {"escalation": {"channels": ["file", "smtp"]}}})
    app = with_policies(sqlite_app, pol)
    setup_departments(app)
    project(app, "P1", leader="王强")
    project(app, "P2")
    permit(app, "P1", "eia", ("accept", LATE))
    permit(app, "P2", "eia", ("accept", LATE))
    permit(app, "P2", "approval", ("accept", date(2026, 11, 16)))  # 5 days, 2 warning: yellow
    first = sweep(app)
    assert first["matters"] == {"reminder": 1, "supervision": 2}
    sup = [n for n in notices.list_(app) if n["level"] == "supervision"][0]
    assert sup["time_limit"] == "2026-11-27"
    assert sweep(app, day=date(2026, 11, 27))["matters"].get("escalation") is None
    # the supervision office closes nothing; the time limit passes with no light change
    esc = sweep(app, day=date(2026, 11, 30))
    assert esc["matters"]["escalation"] == 2 and esc["changed"] <= 1
    by_addressee = {n["addressee"]: n for n in notices.list_(app, level="escalation")}
    assert set(by_addressee) == {"王强", "eeb"}  # P2 has no leader: its department
    assert by_addressee["王强"]["number"] == "通报〔2026〕第0001号" or \
        by_addressee["eeb"]["number"] == "通报〔2026〕第0001号"
    targets = {(d["channel"], d["target"]) for d in list_deliveries(app)
               if d["number"].startswith("通报")}
    assert ("smtp", "office@example.org") in targets  # the bulletin
    assert sweep(app, day=date(2026, 12, 1))["notices"] == 0  # once per episode


def test_a_closed_supervision_notice_is_not_escalated(sqlite_app):
    app = sqlite_app
    setup_departments(app)
    project(app, "P1")
    permit(app, "P1", "eia", ("accept", LATE))
    sweep(app)
    notices.close(as_actor(app, "office"), 1, "handled by phone")
    assert sweep(app, day=date(2026, 12, 7))["notices"] == 0


# -- the lifecycle and roles -----------------------------------------------------------------------

def test_only_the_addressed_department_acks_and_responds_only_a_supervisor_closes(app, run):
    setup_departments(app)
    red_permits(app, 1)
    sweep(app)
    url = app.settings.db_url
    before = dump(url)
    for actor, args, message in [
        ("clerk.drc", ("ack", "1"), "addressed to department eeb"),
        ("reader", ("ack", "1"), "viewer"),
        ("office", ("ack", "1"), "addressed to department eeb"),
        ("clerk.eeb", ("respond", "1", "--text", "x"), "is issued"),
        ("clerk.eeb", ("close", "1"), "only the supervision office"),
    ]:
        r = run("notice", *args, actor=actor)
        assert r.exit_code == 1 and message in r.output, r.output
    assert dump(url) == before  # refusals change nothing
    assert "acknowledged" in run("notice", "ack", "1", actor="clerk.eeb").output
    r = run("notice", "respond", "1", "--text", "已于12月1日办结", actor="clerk.eeb", )
    assert "responded" in r.output
    assert run("notice", "close", "1", "--note", "ok", actor="clerk.eeb").exit_code == 1
    r = run("notice", "close", "1", "--note", "已销号", "--json", actor="office")
    closed = json.loads(r.output)
    assert closed["status"] == "closed" and closed["closed_by"] == "office"
    with pytest.raises(InvalidMove):
        notices.close(as_actor(app, "admin"), 1)


def test_supervise_lists_open_red_matters_worst_first(app, run):
    setup_departments(app)
    project(app, "P1", leader="王强")
    permit(app, "P1", "eia", ("accept", LATE))
    permit(app, "P1", "approval", ("accept", date(2026, 11, 10)))
    assert run("sweep").exit_code == 0  # the CLI's sweep issues notices too
    assert len(json.loads(run("notice", "list", "--json").output)) == 2
    rows = json.loads(run("supervise", "--json").output)
    assert [r["permit"] for r in rows] == ["P1/eia", "P1/approval"]
    assert rows[0]["overdue_days"] > rows[1]["overdue_days"] > 0
    assert rows[0]["notice"].startswith("督办") and rows[0]["responsible"] == "生态环境局"


def test_pure_escalation_rules():
    from workflow.domain.escalation import (
        LevelRule,
        Matter,
        backoff,
        bundle,
        notice_move,
        notice_number,
        rate_allows,
    )
    from workflow.domain.lifecycle import Actor, Role

    assert notice_number("督办〔{year}〕第{seq:04d}号", 2026, 7) == "督办〔2026〕第0007号"
    waits = [backoff(n, first_seconds=60, factor=2, max_seconds=600).total_seconds()
             for n in range(1, 7)]
    assert waits == [60, 120, 240, 480, 600, 600]
    t0 = datetime(2026, 11, 20, tzinfo=UTC)
    sent = [t0 + timedelta(seconds=3 * i) for i in range(20)]
    assert not rate_allows(sent, t0 + timedelta(seconds=59), 20)
    assert rate_allows(sent, t0 + timedelta(seconds=60), 20)  # the first one left the window
    rules = {"s": LevelRule(name="s", light="red"), "one": LevelRule(name="one", light="red",
                                                                      bundle=False)}

    def m(pid, level, who, overdue):
        return Matter(permit_id=pid, level=level, episode=1, department=who, light="red",
                      due_on=None, remaining_days=-overdue, overdue_days=overdue,
                      time_limit=None, responsible=None, addressee_kind="department",
                      addressee=who)

    groups = bundle([m(1, "s", "eeb", 2), m(2, "s", "eeb", 9), m(3, "s", "drc", 1),
                     m(4, "one", "eeb", 1), m(5, "one", "eeb", 1)], rules)
    assert [(k[0], k[2], [x.permit_id for x in v]) for k, v in groups] == [
        ("one", "eeb", [4]), ("one", "eeb", [5]), ("s", "drc", [3]), ("s", "eeb", [2, 1])]
    clerk = Actor(name="c", role=Role.DEPARTMENT, department="eeb")
    office = Actor(name="o", role=Role.SUPERVISOR)
    kw = {"number": "N", "addressee_kind": "department", "department": "eeb"}
    assert notice_move("issued", "ack", clerk, **kw) == "acknowledged"
    with pytest.raises(NotAllowed):
        notice_move("issued", "ack", office, **kw)
    assert notice_move("issued", "ack", office, number="N", addressee_kind="leader",
                       department=None) == "acknowledged"
    with pytest.raises(InvalidMove):
        notice_move("closed", "close", office, **kw)


# -- rendering -----------------------------------------------------------------------------------

def test_notice_renders_in_official_chinese_and_english_escaped(sqlite_app):
    app = sqlite_app
    setup_departments(app)
    project(app, "P1", name="<script>alert(1)</script> | Ring road")
    permit(app, "P1", "eia", ("accept", LATE), responsible="李四")
    sweep(app)
    run = Runner(app.settings.db_url)
    md = run("notice", "show", "1", "--format", "md").output
    assert "督办〔2026〕第0001号" in md and "生态环境局：" in md and "李四" in md
    assert "于2026年11月27日前办结" in md and "重点项目建设推进办公室" in md
    assert "\\| Ring road" in md  # a pipe stays inside its table cell
    html = run("notice", "show", "1", "--format", "html").output
    assert "&lt;script&gt;" in html and "<script>" not in html
    en = run("notice", "show", "1", "--format", "text", "--lang", "en").output
    assert "Supervision notice" in en and "Complete them by 2026-11-27" in en


# -- delivery --------------------------------------------------------------------------------------

def test_smtp_delivery_arrives_survives_a_server_outage_and_keeps_the_password_out(
        sqlite_app, tmp_path, monkeypatch):
    box = Mailbox()
    pol = policies_with(tmp_path, {
        "levels": {"supervision": {"channels": ["smtp"]}},
        "recipients": {"departments": {"eeb": {"email": ["eeb@example.org"]}}},
        "delivery": {"smtp": {"host": "127.0.0.1", "port": box.port, "username": "office",
                              "password_env": "TEST_SMTP_PASSWORD",
                              "sender": "office@example.org", "timeout_seconds": 3},
                     "backoff": {"first_seconds": 60}},
    })
    monkeypatch.setenv("TEST_SMTP_PASSWORD", box.password)
    app = with_policies(sqlite_app, pol)
    setup_departments(app)
    red_permits(app, 2)
    sweep(app)
    clock = FakeClock()
    down = deliver(app, clock=clock)  # the server is not running yet
    assert down["failed"] == 1 and down["sent"] == 0
    (row,) = list_deliveries(app, failed=True)
    assert row["status"] == "pending" and row["attempts"] == 1 and row["last_error"]
    box.start()
    try:
        assert deliver(app, clock=clock)["sent"] == 0  # backing off
        clock.sleep(61)
        assert deliver(app, clock=clock)["sent"] == 1
        assert deliver(app, clock=clock)["sent"] == 0  # nothing twice
    finally:
        box.stop()
    (msg,) = box.messages
    assert msg["Subject"] == "督办〔2026〕第0001号 督办通知书"
    assert msg["To"] == "eeb@example.org"
    assert msg["Message-ID"] == f"<{row['message_key']}@workflow>"
    text = msg.get_body(("plain",)).get_content()
    assert "P001" in text and "P002" in text and "生态环境局" in text
    assert box.password not in json.dumps(dump(app.settings.db_url), ensure_ascii=False)


def test_smtp_starttls_verifies_the_server_certificate(sqlite_app, tmp_path, monkeypatch):
    import ssl

    if not shutil.which("openssl"):
        pytest.skip("openssl not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    box = Mailbox(tls=server_tls).start()
    smtp = {"host": "127.0.0.1", "port": box.port, "username": "office", "starttls": True,
            "password_env": "TEST_SMTP_PASSWORD2", "timeout_seconds": 3}
    monkeypatch.setenv("TEST_SMTP_PASSWORD2", box.password)
    common = {"levels": {"supervision": {"channels": ["smtp"]}},
              "recipients": {"departments": {"eeb": {"email": ["eeb@example.org"]}}}}
    untrusted = policies_with(tmp_path, dict(common, delivery={"smtp": smtp}))
    trusted = policies_with(tmp_path, dict(common, delivery={
        "smtp": dict(smtp, ca_file=str(cert))}))
    app = with_policies(sqlite_app, untrusted)
    setup_departments(app)
    red_permits(app, 1)
    sweep(app)
    clock = FakeClock()
    try:
        refused = deliver(app, clock=clock)  # a certificate nobody vouches for: not sent
        assert refused["failed"] == 1 and "CERTIFICATE_VERIFY_FAILED" in refused["errors"][0]
        clock.sleep(3600)
        assert deliver(with_policies(app, trusted), clock=clock)["sent"] == 1
    finally:
        box.stop()
    assert len(box.messages) == 1 and box.messages[0]["To"] == "eeb@example.org"


def test_webhook_dingtalk_signature_verifies_and_outage_loses_nothing(
        sqlite_app, tmp_path, monkeypatch):
    robot = Robot(secret="SEC-abc123")
    pol = policies_with(tmp_path, {
        "levels": {"supervision": {"channels": ["file", "webhook"]}},
        "recipients": {"departments": {"eeb": {"robots": ["office"]},
                                       "drc": {"robots": ["office"]}}},
        "delivery": {"webhooks": {"office": {
            "kind": "dingtalk", "url_env": "TEST_ROBOT_URL", "secret_env": "TEST_ROBOT_SECRET",
            "per_minute": 20, "timeout_seconds": 3}}, "max_attempts": 3},
    })
    monkeypatch.setenv("TEST_ROBOT_URL", robot.url)
    monkeypatch.setenv("TEST_ROBOT_SECRET", robot.secret)
    monkeypatch.setenv("WORKFLOW_NOTICE_DIR", str(tmp_path / "notices"))
    app = with_policies(sqlite_app, pol)
    setup_departments(app)
    red_permits(app, 1, dept_types=("eia", "approval"))
    sweep(app)
    clock = FakeClock()
    first = deliver(app, clock=clock)  # robot down: files go, webhooks wait
    assert first["sent"] == 2 and first["failed"] == 2
    assert all("TOKEN" not in e and "s3cr3t" not in e for e in first["errors"])
    robot.start()
    try:
        for _ in range(3):
            clock.sleep(3600)
            deliver(app, clock=clock)
    finally:
        robot.stop()
    assert len(robot.received) == 2 and len({r["key"] for r in robot.received}) == 2
    for r in robot.received:
        assert robot.verify(r["query"]) and r["query"]["access_token"] == "TOKEN-s3cr3t"
        assert r["json"]["msgtype"] == "markdown" and "督办" in r["json"]["markdown"]["title"]
    assert {d["status"] for d in list_deliveries(app)} == {"sent"}
    assert len(list((tmp_path / "notices" / "2026").glob("*.zh.html"))) == 2
    everything = json.dumps(dump(app.settings.db_url), ensure_ascii=False)
    assert "TOKEN-s3cr3t" not in everything and "SEC-abc123" not in everything


def test_dead_after_max_attempts_shown_and_redelivered(sqlite_app, tmp_path, monkeypatch):
    pol = policies_with(tmp_path, {
        "levels": {"supervision": {"channels": ["webhook"]}},
        "recipients": {"departments": {"eeb": {"robots": ["office"]}}},
        "delivery": {"webhooks": {"office": {"kind": "wecom", "url_env": "TEST_ROBOT_URL2",
                                             "timeout_seconds": 2}},
                     "max_attempts": 2},
    })
    robot = Robot()
    monkeypatch.setenv("TEST_ROBOT_URL2", robot.url)
    app = with_policies(sqlite_app, pol)
    setup_departments(app)
    red_permits(app, 1)
    sweep(app)
    clock = FakeClock()
    deliver(app, clock=clock)
    clock.sleep(7200)
    assert deliver(app, clock=clock)["dead"] == 1
    run = Runner(app.settings.db_url)
    failed = json.loads(run("notice", "deliveries", "--failed", "--json",
                            env={"WORKFLOW_POLICIES": str(pol)}).output)
    assert [d["status"] for d in failed] == ["dead"]
    with pytest.raises(NotAllowed):
        redeliver(as_actor(app, "clerk.eeb"), "1")
    robot.start()
    try:
        assert redeliver(with_policies(app, pol, actor="office"), "1", clock=clock)["queued"] == 1
        assert deliver(app, clock=clock)["sent"] == 1
    finally:
        robot.stop()
    assert robot.received[0]["json"]["markdown"]["content"].startswith("# ")


def test_100_red_permits_to_one_robot_never_exceed_its_rate(sqlite_app, tmp_path, monkeypatch):
    clock = FakeClock()
    robot = Robot(clock=clock).start()
    pol = policies_with(tmp_path, {
        "levels": {"supervision": {"channels": ["webhook"], "bundle": False}},
        "recipients": {"departments": {"eeb": {"robots": ["office"]}}},
        "delivery": {"webhooks": {"office": {"kind": "dingtalk", "url_env": "TEST_ROBOT_URL3",
                                             "per_minute": 20}}},
    })
    monkeypatch.setenv("TEST_ROBOT_URL3", robot.url)
    app = with_policies(sqlite_app, pol)
    setup_departments(app)
    red_permits(app, 100)
    assert sweep(app)["notices"] == 100
    try:
        result = deliver(app, clock=clock, wait=True)
    finally:
        robot.stop()
    assert result["sent"] == 100 and result["throttled"] == 0
    times = sorted(r["at"] for r in robot.received)
    assert len(times) == 100 and len({r["key"] for r in robot.received}) == 100
    worst = max(sum(1 for u in times if t <= u < t + timedelta(seconds=60)) for t in times)
    assert worst <= 20
    assert times[-1] - times[0] >= timedelta(minutes=4)  # 100 at 20 a minute


CRASH_AFTER_SWEEP = """
import os, signal, sys
from datetime import date
from workflow.app import App, Settings
from workflow.sweep import sweep
app = App(Settings(db_url=sys.argv[1], policies=sys.argv[2], actor="admin",
                   today=date(2026, 11, 20)))
sweep(app)
os.kill(os.getpid(), signal.SIGKILL)  # dies between the sweep and the delivery
"""



def test_crash_between_sweep_and_delivery_then_delivered_exactly_once(
        sqlite_app, tmp_path, monkeypatch):
    clock = FakeClock()
    robot = Robot(clock=clock).start()
    pol = policies_with(tmp_path, {
        "levels": {"supervision": {"channels": ["webhook"]}},
        "recipients": {"departments": {"eeb": {"robots": ["office"]},
                                       "drc": {"robots": ["office"]}}},
        "delivery": {"webhooks": {"office": {"kind": "dingtalk", "url_env": "TEST_ROBOT_URL4"}},
                     "lease_seconds": 300},
    })
    monkeypatch.setenv("TEST_ROBOT_URL4", robot.url)
    app = with_policies(sqlite_app, pol)
    setup_departments(app)
    red_permits(app, 3, dept_types=("eia", "approval"))
    url = app.settings.db_url
    p = subprocess.run([sys.executable, "-c", CRASH_AFTER_SWEEP, url, str(pol)],
                       capture_output=True)
    assert p.returncode == -signal.SIGKILL, p.stderr.decode()
    assert count(app, "sweep_run") == 1 and count(app, "notice") == 2
    assert count(app, "delivery", "status = 'pending'") == 2  # committed with the sweep
    # a deliverer that claims and dies before sending (its claims stay `sending`)
    from workflow.notify.outbox import _claim

    claimed, _ = _claim(app, clock.now(), "a-process-that-died")
    assert len(claimed) == 2 and count(app, "delivery", "status = 'sending'") == 2
    try:
        assert deliver(app, clock=clock)["sent"] == 0  # claimed by someone: wait for the lease
        clock.sleep(301)  # the lease of the killed claims runs out
        assert deliver(app, clock=clock)["sent"] == 2
        sweep(app)
        assert deliver(app, clock=clock)["sent"] == 0
    finally:
        robot.stop()
    assert len(robot.received) == 2 and len({r["key"] for r in robot.received}) == 2
    assert count(app, "notice_matter") == 6


# -- the scheduler -------------------------------------------------------------------------------

def test_daily_job_with_a_controllable_clock_runs_each_day_once(sqlite_app):
    app = sqlite_app
    setup_departments(app)
    red_permits(app, 1)
    shanghai = timezone(timedelta(hours=8))
    clock = FakeClock(datetime(2026, 11, 20, 8, 0, tzinfo=shanghai))
    assert not due_today(app, clock.now())  # before 08:30
    clock.sleep(31 * 60)
    assert due_today(app, clock.now())
    for offset in range(5):
        day = TODAY + timedelta(days=offset)
        app_on = as_actor(app, "admin", today=day)
        first = daily(app_on, clock=clock)
        second = daily(app_on, clock=clock)
        assert "skipped" not in first["sweep"] and second["sweep"]["skipped"]
    assert count(app, "sweep_run") == 5 and count(app, "notice") == 1
    assert not due_today(app, clock.now())
    jobs = {j["job"]: j for j in status(app)["jobs"]}
    assert jobs["daily"]["last_status"] == "skipped" and jobs["daily"]["last_error"] is None


def test_weekly_job_runs_its_reports_once_a_day(sqlite_app, tmp_path, monkeypatch):
    from workflow import schedule

    monkeypatch.setenv("WORKFLOW_REPORT_DIR", str(tmp_path / "reports"))

    calls = []
    hook = lambda app, day: calls.append(day) or {"report": "weekly"}  # noqa: E731
    schedule.WEEKLY.append(hook)
    try:
        first = schedule.weekly(sqlite_app)
        second = schedule.weekly(sqlite_app)
    finally:
        schedule.WEEKLY.remove(hook)
    assert first["reports"][1] == {"report": "weekly"} and second["skipped"]
    assert calls == [TODAY]
    written = sorted(p.name for p in (tmp_path / "reports").iterdir())
    assert written == ["weekly-2026-11-20.md", "weekly-2026-11-20.xlsx"]
    r = Runner(sqlite_app.settings.db_url)("scheduler", "status", "--json")
    jobs = {j["job"]: j for j in json.loads(r.output)["jobs"]}
    assert jobs["weekly"]["last_status"] == "ok"


def test_scheduler_start_catches_up_once_and_stops_cleanly(sqlite_app, tmp_path):
    """A stored daily job missed for three days runs once on start (coalesce, grace time)."""
    from zoneinfo import ZoneInfo

    now = datetime.now(ZoneInfo("Asia/Shanghai")) - timedelta(minutes=2)
    pol = policies_with(tmp_path, {"schedule": {"daily": now.strftime("%H:%M")}})
    app = with_policies(sqlite_app, pol)
    setup_departments(app)
    red_permits(app, 1)

    def run_scheduler(catch_up: bool, until) -> dict:
        stop = threading.Event()
        out: dict = {}
        t = threading.Thread(target=lambda: out.update(start(app, stop=stop, catch_up=catch_up)))
        t.start()
        deadline = time.monotonic() + 15
        while not until() and time.monotonic() < deadline:
            time.sleep(0.1)
        stop.set()
        t.join(10)
        assert not t.is_alive()
        return out

    run_scheduler(False, lambda: count(app, "scheduler_job") == 3)
    # the scheduler was then down for three days: its stored daily job was due back then
    missed = datetime.now(UTC) - timedelta(days=3)
    with app.db.connect(write=True) as conn:
        make_daily_job_due(conn, missed)
    done = lambda: count(app, "job_run", "job = 'daily' AND finished_at IS NOT NULL") >= 1  # noqa
    run_scheduler(False, done)
    time.sleep(0.2)
    assert count(app, "job_run", "job = 'daily'") == 1  # once, not once per missed day
    assert count(app, "sweep_run") == 1
    nxt = {j["job"]: j["next_run"] for j in status(app)["jobs"]}["daily"]
    assert datetime.fromisoformat(nxt) > datetime.now(UTC)
    # a restart the same day: the day is swept, no second catch-up
    assert run_scheduler(True, lambda: True)["caught_up"] is False


SCHEDULERS = 5


def _five_schedulers(url: str, tmp_path: Path, monkeypatch) -> None:
    robot = Robot().start()
    pol = policies_with(tmp_path, {
        "levels": {"supervision": {"channels": ["file", "webhook"]}},
        "recipients": {"departments": {"eeb": {"robots": ["office"]},
                                       "drc": {"robots": ["office"]}}},
        "delivery": {"webhooks": {"office": {"kind": "dingtalk",
                                             "url_env": "TEST_ROBOT_URL5"}}},
        "schedule": {"timezone": "UTC", "daily": "00:00"},
    })
    app = make_app(url, policies=pol)
    init(app)
    setup_departments(app)
    red_permits(app, 3, dept_types=("eia", "approval"))
    env = dict(os.environ, WORKFLOW_DB=url, WORKFLOW_POLICIES=str(pol),
               WORKFLOW_TODAY=TODAY.isoformat(), WORKFLOW_NOTICE_DIR=str(tmp_path / "n"),
               TEST_ROBOT_URL5=robot.url)
    env.pop("WORKFLOW_ACTOR", None)
    procs = [subprocess.Popen([str(Path(sys.executable).parent / "workflow"), "scheduler", "start"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(SCHEDULERS)]
    outputs: list[list[bytes]] = [[] for _ in procs]
    for p, out in zip(procs, outputs, strict=True):
        threading.Thread(target=lambda p=p, out=out: out.extend(p.stderr), daemon=True).start()
    try:
        # a scheduler that starts after the day was swept does not catch up: wait until the
        # work is done and every process is up, then stop them all
        deadline = time.monotonic() + 90  # generous: five interpreters start on a busy machine
        while time.monotonic() < deadline:
            started = sum(any(b"started" in line for line in out) for out in outputs)
            if (started == SCHEDULERS and count(app, "sweep_run") == 1
                    and count(app, "delivery", "status != 'sent'") == 0
                    and count(app, "job_run", "finished_at IS NULL") == 0):
                break
            time.sleep(0.2)
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        codes = [p.wait(20) for p in procs]
        robot.stop()
    errors = [b"".join(out).decode()[-2000:] for out in outputs]
    assert codes == [0] * SCHEDULERS, errors
    assert count(app, "job_run", "job = 'daily' AND status = 'error'") == 0, errors
    assert count(app, "sweep_run") == 1
    assert count(app, "job_run", "job = 'daily' AND status = 'ok'") == 1
    assert count(app, "notice_matter") == 6 and count(app, "notice") == 2
    assert count(app, "delivery", "status = 'sent'") == 4
    assert count(app, "delivery_attempt") == 4  # every delivery tried once, by one process
    assert sorted(r["key"] for r in robot.received) == sorted(
        d["message_key"] for d in list_deliveries(app) if d["channel"] == "webhook")
    app.db.dispose()


def test_five_schedulers_on_one_sqlite_file(sqlite_url, tmp_path, monkeypatch):
    _five_schedulers(sqlite_url, tmp_path, monkeypatch)


@pytest.mark.postgres
@pytest.mark.skipif(not PG_URL, reason="WORKFLOW_TEST_POSTGRES_URL not set")
def test_five_schedulers_on_postgresql(tmp_path, monkeypatch):
    from tests.conftest import _fresh_pg_database

    url, drop = _fresh_pg_database(PG_URL)
    try:
        _five_schedulers(url, tmp_path, monkeypatch)
    finally:
        drop()


# -- the notice hook looks only at what changed since it last ran ---------------------------------

def test_a_light_changed_by_a_move_is_seen_by_the_next_sweep_of_the_same_day(app):
    setup_departments(app)
    project(app, "P1")
    permit(app, "P1", "eia", ("accept", date(2026, 11, 3)))  # due 11-17: red on 11-20
    assert sweep(app)["matters"] == {"supervision": 1}
    from workflow import permits

    moved = permits.advance(as_actor(app, "clerk.eeb"), "P1/eia", "extend", days=10,
                            reason="expert review")
    assert moved["light"] != "red"  # the move itself wrote the new light
    again = sweep(app)  # no light left to change, yet the red episode must end
    assert again["changed"] == 0
    assert count(app, "notice_matter", "ended_on IS NOT NULL") == 1


def test_a_level_added_to_the_policy_reaches_permits_already_yellow(sqlite_app, tmp_path):
    setup_departments(sqlite_app)
    project(sqlite_app, "P1")
    permit(sqlite_app, "P1", "approval", ("accept", date(2026, 11, 16)))  # yellow on TODAY
    no_reminder = policies_with(tmp_path, {})
    path = no_reminder / "escalation.yaml"
    esc = yaml.safe_load(path.read_text(encoding="utf-8"))
    del esc["levels"]["reminder"]
    path.write_text(yaml.safe_dump(esc, allow_unicode=True), encoding="utf-8")
    assert sweep(with_policies(sqlite_app, no_reminder))["matters"] == {}
    # nothing changes on the permit; the office adds the reminder level back
    shipped = sweep(with_policies(sqlite_app, default_policy_dir()))
    assert shipped["changed"] == 0 and shipped["matters"] == {"reminder": 1}


def test_rebuild_makes_the_next_sweep_look_at_every_permit(sqlite_app, tmp_path):
    """A row put back by `rebuild` changed without an event: the next sweep still sees it."""
    app = sqlite_app
    setup_departments(app)
    project(app, "P1")
    permit(app, "P1", "eia", ("accept", LATE))
    assert sweep(app)["matters"] == {"supervision": 1}
    with app.db.connect(write=True) as conn:  # behind the tool's back: the row looks approved
        conn.execute(sa.text("UPDATE permit SET phase = 'closed', state = 'approved'"))
    edited = policies_with(tmp_path, {"levels": {"supervision": {"rectify_within": 6}}})
    app = with_policies(app, edited)
    sweep(app)  # a new policy: every permit is looked at, and the red episode ends
    assert count(app, "notice_matter", "ended_on IS NOT NULL") == 1
    from workflow.rebuild import rebuild

    assert rebuild(app)["rebuilt"] == 1  # open and red again, without an event
    assert sweep(app)["matters"] == {"supervision": 1}  # called for again


class EchoingSmtp:
    """An SMTP server that refuses every login and quotes the credentials in its refusal, as a
    careless or hostile relay may: the error the outbox stores must not carry them."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn, conn.makefile("rwb") as f:
                f.write(b"220 echo ESMTP\r\n")
                f.flush()
                for line in f:
                    cmd = line.decode("ascii", "replace").strip()
                    if cmd.upper().startswith(("EHLO", "HELO")):
                        f.write(b"250-echo\r\n250 AUTH PLAIN\r\n")
                    elif cmd.upper().startswith("AUTH"):
                        token = cmd.split()[-1]
                        creds = base64.b64decode(token + "=" * (-len(token) % 4))
                        creds = creds.replace(b"\0", b" ")
                        f.write(b"535 5.7.8 login refused for" + creds + b"\r\n")
                    elif cmd.upper().startswith("QUIT"):
                        f.write(b"221 bye\r\n")
                        f.flush()
                        break
                    else:
                        f.write(b"250 OK\r\n")
                    f.flush()

    def stop(self) -> None:
        self.sock.close()


def test_a_server_quoting_the_smtp_password_back_never_gets_it_stored_or_shown(
        sqlite_app, tmp_path, monkeypatch, caplog):
    server = EchoingSmtp()
    secret = "pw-Planted-4711"
    pol = policies_with(tmp_path, {
        "levels": {"supervision": {"channels": ["smtp"]}},
        "recipients": {"departments": {"eeb": {"email": ["eeb@example.org"]}}},
        "delivery": {"smtp": {"host": "127.0.0.1", "port": server.port, "username": "office",
                              "password_env": "TEST_SMTP_ECHOED", "timeout_seconds": 3}},
    })
    monkeypatch.setenv("TEST_SMTP_ECHOED", secret)
    app = with_policies(sqlite_app, pol)
    setup_departments(app)
    red_permits(app, 1)
    sweep(app)
    try:
        result = deliver(app, clock=FakeClock())
        shown = Runner(app.settings.db_url)("notice", "deliveries", "--failed", "--json",
                                            env={"WORKFLOW_POLICIES": str(pol)})
    finally:
        server.stop()
    assert result["failed"] == 1
    (error,) = result["errors"]
    assert "535" in error and "login refused" in error and "***" in error  # the reason stays
    assert secret not in json.dumps(result, ensure_ascii=False)
    assert secret not in shown.output and "***" in shown.output
    assert secret not in json.dumps(dump(app.settings.db_url), ensure_ascii=False)
    assert all(secret not in r.getMessage() for r in caplog.records)
