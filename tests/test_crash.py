"""Crashes: the sweep, and the whole daily job, are killed (SIGKILL) at random points in a real
process, then run again. Every time the database is consistent: rows equal their rebuild, the
chains verify, and every light change, notice matter and delivery of the day exists exactly once;
after the daily job's re-run every notice has reached the receiver exactly once.

The sweep trials: half kill after a random delay (0.2 to 1.2 times the time a sweep takes to
reach its writes: start-up, reading, writing, committing, or already done); the other half kill
once the sweep has written all its changes, holding its transaction open (a hook in the child),
so the kill lands mid-transaction every time. WORKFLOW_CRASH_TRIALS sets the trials per backend.

The daily-job trials (`workflow scheduler run daily`: sweep, notices, delivery through the file
channel) rotate three kills: after a random delay over the whole job, mid-transaction as above,
and after the N-th notice was sent but before it was marked sent (the window in which the outbox
sends twice). WORKFLOW_CRASH_DAILY_TRIALS and WORKFLOW_CRASH_DAILY_POPULATION set them."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from tests.conftest import PG_URL, make_app
from tests.workers import DAILY_CHILD, SWEEP_CHILD, TODAY, populate
from workflow.audit import verify
from workflow.rebuild import rebuild
from workflow.sweep import sweep

TRIALS = int(os.environ.get("WORKFLOW_CRASH_TRIALS", "8"))
POPULATION = int(os.environ.get("WORKFLOW_CRASH_POPULATION", "2000"))
DAILY_TRIALS = int(os.environ.get("WORKFLOW_CRASH_DAILY_TRIALS", "6"))
DAILY_POPULATION = int(os.environ.get("WORKFLOW_CRASH_DAILY_POPULATION", "200"))
BACKENDS = ["sqlite"] + (["postgres"] if PG_URL else [])


class Store:
    """A populated template database, and fresh copies of it for each trial."""

    def __init__(self, backend: str, folder, population: int = POPULATION):
        self.backend, self.folder = backend, folder
        self.copies: list[str] = []
        if backend == "sqlite":
            self.template = f"sqlite:///{folder / 'template.db'}"
        else:
            self.admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
            self.name = f"wf_crash_{uuid.uuid4().hex[:8]}"
            with self.admin.connect() as c:
                c.exec_driver_sql(f'CREATE DATABASE "{self.name}"')
            self.template = PG_URL.rsplit("/", 1)[0] + "/" + self.name
        from workflow.setup import init

        app = make_app(self.template)
        init(app)
        populate(app, population)
        app.db.dispose()

    def copy(self) -> str:
        n = len(self.copies)
        if self.backend == "sqlite":
            path = self.folder / f"trial-{n}.db"
            shutil.copy(self.folder / "template.db", path)
            url = f"sqlite:///{path}"
        else:
            name = f"{self.name}_{n}"
            with self.admin.connect() as c:
                c.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{self.name}"')
            url = PG_URL.rsplit("/", 1)[0] + "/" + name
        self.copies.append(url)
        return url

    def drop(self) -> None:
        if self.backend == "sqlite":
            return
        with self.admin.connect() as c:
            for name in [u.rsplit("/", 1)[1] for u in self.copies] + [self.name]:
                c.exec_driver_sql(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    f"WHERE datname = '{name}' AND pid <> pg_backend_pid()")
                c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        self.admin.dispose()


def records(url: str, sql: str, day: date) -> Counter:
    app = make_app(url)
    with app.db.connect() as conn:
        rows = conn.execute(sa.text(sql), {"d": (day - date(1970, 1, 1)).days}).all()
    app.db.dispose()
    return Counter(tuple(r) for r in rows)


def light_changes(url: str, day: date) -> Counter:
    return records(url, "SELECT permit_id, data FROM permit_event "
                        "WHERE kind = 'light' AND \"on\" = :d", day)


def notice_matters(url: str, day: date) -> Counter:
    """Each matter (permit, level, episode) with the notice that lists it."""
    return records(url, "SELECT m.permit_id, m.level, m.episode, n.number, n.addressee "
                        "FROM notice_matter m JOIN notice n ON n.id = m.notice_id "
                        "WHERE n.issued_on = :d", day)


def deliveries(url: str, day: date) -> Counter:
    """Each queued delivery: notice, channel, target and its stable message key."""
    return records(url, "SELECT n.number, d.channel, d.target, d.message_key "
                        "FROM delivery d JOIN notice n ON n.id = d.notice_id "
                        "WHERE n.issued_on = :d", day)


# What a sweep records that must exist exactly once after a kill and a re-run: for each kind, a
# function (url, day) -> Counter of that day's records, compared with an uninterrupted run's.
# Notices and their deliveries are written in the sweep's transaction (sweep.AFTER_CHANGES).
EXACTLY_ONCE = {"light change": light_changes, "notice matter": notice_matters,
                "delivery": deliveries}


def start_sweep(url: str, hold: bool = False) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKFLOW_")}
    if hold:
        env["HOLD_AFTER_WRITE"] = "1"
    return subprocess.Popen(
        [sys.executable, "-c", SWEEP_CHILD, "--db", url, "--today", TODAY.isoformat(), "sweep"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True,
    )


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_killed_sweep_leaves_a_consistent_ledger(backend, tmp_path):
    store = Store(backend, tmp_path)
    try:
        # the reference: one sweep that nobody kills
        reference_url = store.copy()
        started = time.monotonic()
        clean = start_sweep(reference_url)
        assert clean.stdout.readline() == "written\n"
        to_written = time.monotonic() - started  # start-up, reading and writing: the kill window
        assert clean.wait(timeout=300) == 0, clean.stderr.read()
        expected = {kind: of_day(reference_url, TODAY) for kind, of_day in EXACTLY_ONCE.items()}
        assert len(expected["light change"]) > POPULATION // 2
        assert expected["notice matter"] and expected["delivery"]

        rng = random.Random(7)
        outcomes: Counter = Counter()
        for trial in range(TRIALS):
            url = store.copy()
            started = time.monotonic()
            child = start_sweep(url, hold=bool(trial % 2))
            if trial % 2:
                assert child.stdout.readline() == "written\n"  # inside the transaction, held
                to_written = time.monotonic() - started  # follow the machine's current speed
            else:
                time.sleep(rng.uniform(0.2, 1.2) * to_written)
            child.send_signal(signal.SIGKILL)
            code = child.wait(timeout=60)
            app = make_app(url, actor=None)
            with app.db.connect() as conn:
                committed = conn.execute(sa.text("SELECT count(*) FROM sweep_run")).scalar()
            outcomes["finished before the kill" if code == 0 else
                      "killed after commit" if committed else
                      "killed mid-transaction" if trial % 2 else "killed before commit"] += 1
            sweep(app, day=TODAY)  # the next run
            for kind, of_day in EXACTLY_ONCE.items():
                assert of_day(url, TODAY) == expected[kind], f"trial {trial}: {kind}"
            assert rebuild(app, check_only=True)["differing"] == 0, f"trial {trial}"
            assert verify(app)["ok"], f"trial {trial}"
            if backend == "sqlite":
                with app.db.connect() as conn:
                    assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
            app.db.dispose()
        print(f"\n{backend}: {TRIALS} kills over {POPULATION} permits "
              f"({to_written:.1f}s to the write, {len(expected['light change'])} light changes, "
              f"{len(expected['notice matter'])} matters in "
              f"{len({m[3] for m in expected['notice matter']})} notices): {dict(outcomes)}")
        assert outcomes["killed mid-transaction"] == TRIALS // 2
    finally:
        store.drop()


# -- the whole daily job: sweep, notices, delivery ----------------------------------------------

def daily_policies(folder: Path) -> Path:
    """The shipped policies with one notice per matter (many notices to kill amid), rendered in
    Markdown only, and a lease of 1 s so that the re-run re-claims what the killed run held."""
    from workflow.policy import default_policy_dir

    target = folder / "policies"
    shutil.copytree(default_policy_dir(), target)
    path = target / "escalation.yaml"
    esc = yaml.safe_load(path.read_text(encoding="utf-8"))
    for level in esc["levels"].values():
        level["bundle"] = False
    esc["delivery"]["lease_seconds"] = 1
    esc["delivery"]["file"] = {"formats": ["md"]}
    path.write_text(yaml.safe_dump(esc, allow_unicode=True), encoding="utf-8")
    return target


def start_daily(url: str, policies: Path, box: Path, hold: str | None = None) -> subprocess.Popen:
    """`workflow scheduler run daily` delivering into `box` (the receiver), logging each send."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKFLOW_")}
    env.update(WORKFLOW_NOTICE_DIR=str(box), RECEIVER_LOG=str(box) + ".log")
    if hold:
        env["HOLD"] = hold
    return subprocess.Popen(
        [sys.executable, "-c", DAILY_CHILD, "--db", url, "--today", TODAY.isoformat(),
         "--policies", str(policies), "scheduler", "run", "daily"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True,
    )


def received(box: Path) -> dict[str, str]:
    """What the receiver sees: every file in the directory (a leftover temporary file or a
    half-written notice shows here too) with a digest of its content."""
    return {str(p.relative_to(box)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(box.rglob("*")) if p.is_file()}


def sends(box: Path) -> Counter:
    """How many times the outbox sent each message (the child's log of sends)."""
    log = Path(str(box) + ".log")
    return Counter(log.read_text(encoding="utf-8").split()) if log.exists() else Counter()


def wait_for_line(child: subprocess.Popen, line: str) -> None:
    while (got := child.stdout.readline()) != line + "\n":
        assert got, f"the child ended before {line!r}: {child.stderr.read()[-2000:]}"


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_killed_daily_job_issues_and_delivers_each_notice_once(backend, tmp_path):
    policies = daily_policies(tmp_path)
    store = Store(backend, tmp_path, DAILY_POPULATION)
    try:
        # the reference: one daily job that nobody kills
        reference_url = store.copy()
        started = time.monotonic()
        clean = start_daily(reference_url, policies, tmp_path / "reference")
        _, err = clean.communicate(timeout=300)
        to_done = time.monotonic() - started  # the kill window: the whole job
        assert clean.returncode == 0, err
        expected = {kind: of_day(reference_url, TODAY) for kind, of_day in EXACTLY_ONCE.items()}
        keys = {d[3] for d in expected["delivery"]}
        notices = len({m[3] for m in expected["notice matter"]})
        assert len(keys) == notices > DAILY_POPULATION // 2
        expected_files = received(tmp_path / "reference")
        assert len(expected_files) == notices  # one Markdown file per notice
        assert sends(tmp_path / "reference") == Counter(keys)

        rng = random.Random(11)
        outcomes: Counter = Counter()
        sent_twice = total_sends = 0
        for trial in range(DAILY_TRIALS):
            url = store.copy()
            box = tmp_path / f"trial-{trial}"
            kind = ("random", "sweep", "send")[trial % 3]
            hold = {"random": None, "sweep": "sweep",
                    "send": f"send {rng.randint(1, notices)}"}[kind]
            child = start_daily(url, policies, box, hold)
            if kind == "random":  # anywhere from start-up through the sweep to the last send
                time.sleep(rng.uniform(0.2, 1.0) * to_done)
            else:
                wait_for_line(child, "written" if kind == "sweep" else "sent")
            child.send_signal(signal.SIGKILL)
            code = child.wait(timeout=60)
            app = make_app(url, actor=None)
            with app.db.connect() as conn:
                swept = conn.execute(sa.text("SELECT count(*) FROM sweep_run")).scalar()
                unsent = conn.execute(sa.text(
                    "SELECT count(*) FROM delivery WHERE status != 'sent'")).scalar()
            app.db.dispose()
            outcomes["finished before the kill" if code == 0 else
                      "killed mid-transaction" if kind == "sweep" else
                      "killed before commit" if not swept else
                      "killed between a send and its mark" if kind == "send" else
                      "killed during delivery" if unsent else
                      "killed after delivery"] += 1
            time.sleep(1.1)  # the killed run's claims outlive their lease (1 s)
            started = time.monotonic()
            rerun = start_daily(url, policies, box)  # the next run
            _, err = rerun.communicate(timeout=300)
            assert rerun.returncode == 0, f"trial {trial}: {err[-2000:]}"
            if kind == "sweep":  # nothing was committed: the re-run did the whole job
                to_done = time.monotonic() - started  # follow the machine's current speed

            for kind_, of_day in EXACTLY_ONCE.items():
                assert of_day(url, TODAY) == expected[kind_], f"trial {trial}: {kind_}"
            app = make_app(url, actor=None)
            with app.db.connect() as conn:
                assert conn.execute(sa.text(
                    "SELECT count(*) FROM delivery WHERE status != 'sent'")).scalar() == 0
            # the receiver holds every notice once, whole, and nothing else
            assert received(box) == expected_files, f"trial {trial}"
            sent = sends(box)
            assert set(sent) == keys, f"trial {trial}"
            twice = sum(n - 1 for n in sent.values())
            assert twice <= 1, f"trial {trial}: {twice} messages sent again after one kill"
            if kind == "send":
                assert twice == 1, f"trial {trial}: the held send was not sent again"
            sent_twice += twice
            total_sends += sum(sent.values())
            assert rebuild(app, check_only=True)["differing"] == 0, f"trial {trial}"
            assert verify(app)["ok"], f"trial {trial}"
            if backend == "sqlite":
                with app.db.connect() as conn:
                    assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
            app.db.dispose()
        print(f"\n{backend}: {DAILY_TRIALS} kills of the daily job over {DAILY_POPULATION} "
              f"permits ({to_done:.1f}s a job; {len(expected['light change'])} light changes, "
              f"{notices} notices, {len(keys)} deliveries per job): {dict(outcomes)}; "
              f"{total_sends} sends observed, {sent_twice} of them a second send of a message "
              f"(same file, same content); the receiver held each notice once every time")
    finally:
        store.drop()
