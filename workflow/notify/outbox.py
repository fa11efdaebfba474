"""The outbox: deliveries are queued with their notice (same transaction) and sent here.

A deliverer claims due rows in a short write transaction (recording the attempt), sends outside
any transaction, then marks each row sent, or pending again after a backoff, or dead after the
policy's maximum of attempts. A claim not finished within the lease (a killed process) is
claimed again, so delivery is at least once; the stable message key lets receivers drop the
rare duplicate. Webhook robots are throttled per robot over every 60-second window, counted from
the attempt log in the database, so several deliverers together still keep the rate.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from workflow import actors
from workflow.app import App
from workflow.domain.escalation import backoff, rate_allows
from workflow.errors import BadData, NotFound
from workflow.store.models import Delivery, DeliveryAttempt, Notice

delivery_t = Delivery.__table__
attempt_t = DeliveryAttempt.__table__
notice_t = Notice.__table__
BATCH = 50
CLAIM_LOCK = 7_310_421  # PostgreSQL advisory lock key serialising claims (rate counts stay true)


@dataclass
class SystemClock:
    """Real time (UTC). Tests pass a clock whose `sleep` only moves `now` on."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@dataclass
class DeliveryResult:
    sent: int = 0
    failed: int = 0
    dead: int = 0
    throttled: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"sent": self.sent, "failed": self.failed, "dead": self.dead,
                "throttled": self.throttled, "errors": self.errors[:20]}


def owner_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def deliver(
    app: App, *, clock: Any = None, wait: bool = False, senders: dict[str, Callable] | None = None,
    max_rounds: int = 10_000,
) -> dict[str, Any]:
    """Send every due delivery; with `wait`, also wait out robot throttles until none is left.

    Returns counts: sent, failed (to be retried), dead, throttled (left for later).
    """
    actors.require_job_runner(app, "deliver notices")
    clock = clock or SystemClock()
    cfg = app.policy.escalation.delivery
    senders = senders or default_senders()
    owner = owner_name()
    result = DeliveryResult()
    secrets = delivery_secrets(app)
    for _ in range(max_rounds):
        now = clock.now()
        claimed, throttled = _claim(app, now, owner)
        if not claimed:
            result.throttled = throttled
            if wait and throttled and not getattr(clock, "stopping", False):
                clock.sleep(_throttle_wait(app, now))
                continue
            break
        for row in claimed:
            error = None
            try:
                senders[row.channel](app, row)
            except Exception as e:  # every failure is recorded and retried, never lost
                error = safe_error(e, secrets)
            _finish(app, row, error, clock.now(), cfg)
            if error is None:
                result.sent += 1
            elif row.attempts >= cfg.max_attempts:
                result.dead += 1
                result.errors.append(f"{row.message_key}: {error}")
            else:
                result.failed += 1
                result.errors.append(f"{row.message_key}: {error}")
    return result.as_dict()


def safe_error(e: Exception, secrets: Iterable[str] = ()) -> str:
    """One line naming the failure, without URLs (a robot URL holds its token) or secrets: a
    server may quote what it was sent (an SMTP server rejecting a login, a proxy echoing a
    signed URL), and this line is stored, logged and shown."""
    import re

    text = f"{type(e).__name__}: {e}".splitlines()[0] if str(e) else type(e).__name__
    for secret in secrets:
        text = text.replace(secret, "***")
    return re.sub(r"https?://\S+", "<url>", text)[:500]


def delivery_secrets(app: App) -> list[str]:
    """The values of the secrets the delivery policy names (the SMTP password, each robot's URL
    and signing secret), longest first, to be masked wherever an error is written."""

    cfg = app.policy.escalation.delivery
    names = [cfg.smtp.password_env]
    for robot in cfg.webhooks.values():
        names += [robot.url_env, robot.secret_env]
    values = {os.environ.get(n) for n in names if n}
    return sorted((v for v in values if v and len(v) >= 4), key=len, reverse=True)


def _claim(app: App, now: datetime, owner: str) -> tuple[list[Any], int]:
    """Claim due rows (pending and due, or sending past their lease), within robot rates."""
    cfg = app.policy.escalation.delivery
    robots = cfg.webhooks
    lease_cutoff = now - timedelta(seconds=cfg.lease_seconds)
    due = sa.or_(
        sa.and_(delivery_t.c.status == "pending", delivery_t.c.next_attempt_at <= now),
        sa.and_(delivery_t.c.status == "sending", delivery_t.c.claimed_at < lease_cutoff),
    )
    claimed: list[Any] = []
    throttled = 0
    with app.db.connect(write=True) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": CLAIM_LOCK})
        rows = conn.execute(
            sa.select(delivery_t).where(due).order_by(delivery_t.c.id).limit(BATCH)
        ).all()
        recent: dict[str, list[datetime]] = {}
        for row in rows:
            if row.channel == "webhook":
                robot = robots.get(row.target)
                if robot is not None:
                    times = recent.get(row.target)
                    if times is None:
                        times = recent[row.target] = _recent_attempts(conn, row.target, now)
                    if not rate_allows(times, now, robot.per_minute):
                        throttled += 1
                        continue
                    times.append(now)
            updated = conn.execute(
                delivery_t.update().where(delivery_t.c.id == row.id, due).values(
                    status="sending", claimed_at=now, claimed_by=owner,
                    attempts=delivery_t.c.attempts + 1,
                )
            ).rowcount
            if updated != 1:
                continue
            attempt_id = conn.execute(
                attempt_t.insert().values(delivery_id=row.id, channel=row.channel,
                                          target=row.target, at=now)
            ).inserted_primary_key[0]
            fresh = conn.execute(sa.select(delivery_t).where(delivery_t.c.id == row.id)).one()
            claimed.append(_Claimed(fresh, attempt_id))
    return claimed, throttled


class _Claimed:
    """A claimed delivery row plus the id of the attempt recorded for it."""

    def __init__(self, row: Any, attempt_id: int):
        self._row = row
        self.attempt_id = attempt_id

    def __getattr__(self, name: str) -> Any:
        return getattr(self._row, name)


def _recent_attempts(conn: Connection, target: str, now: datetime) -> list[datetime]:
    start = now - timedelta(seconds=60)
    return [
        r[0] for r in conn.execute(
            sa.select(attempt_t.c.at).where(
                attempt_t.c.channel == "webhook", attempt_t.c.target == target,
                attempt_t.c.at > start,
            )
        )
    ]


def _throttle_wait(app: App, now: datetime) -> float:
    """Seconds until the oldest send in some throttled robot's window leaves it (at least 1)."""
    with app.db.connect() as conn:
        oldest = conn.execute(
            sa.select(sa.func.min(attempt_t.c.at)).where(
                attempt_t.c.channel == "webhook", attempt_t.c.at > now - timedelta(seconds=60)
            )
        ).scalar()
    if oldest is None:
        return 1.0
    return max(1.0, (oldest + timedelta(seconds=60) - now).total_seconds() + 0.001)


def _finish(app: App, row: Any, error: str | None, now: datetime, cfg: Any) -> None:
    with app.db.connect(write=True) as conn:
        conn.execute(
            attempt_t.update().where(attempt_t.c.id == row.attempt_id)
            .values(ok=error is None, error=error)
        )
        mine = sa.and_(delivery_t.c.id == row.id, delivery_t.c.status == "sending",
                       delivery_t.c.claimed_at == row.claimed_at)
        if error is None:
            values = {"status": "sent", "sent_at": now, "last_error": None}
        elif row.attempts >= cfg.max_attempts:
            values = {"status": "dead", "last_error": error}
        else:
            wait = backoff(row.attempts, first_seconds=cfg.backoff.first_seconds,
                           factor=cfg.backoff.factor, max_seconds=cfg.backoff.max_seconds)
            values = {"status": "pending", "next_attempt_at": now + wait, "last_error": error}
        conn.execute(delivery_t.update().where(mine).values(**values))


# -- reading and redelivering --------------------------------------------------------------------

def list_deliveries(app: App, *, failed: bool = False, notice: str | None = None) -> list[dict]:
    """Deliveries, newest first; `failed`: dead ones and those waiting for a retry."""
    from workflow.notices import _find, delivery_dict

    stmt = (
        sa.select(delivery_t, notice_t.c.number)
        .join(notice_t, notice_t.c.id == delivery_t.c.notice_id)
        .order_by(delivery_t.c.id.desc())
    )
    if failed:
        stmt = stmt.where(sa.or_(
            delivery_t.c.status == "dead",
            sa.and_(delivery_t.c.status != "sent", delivery_t.c.last_error.is_not(None)),
        ))
    with app.db.connect() as conn:
        if notice is not None:
            stmt = stmt.where(delivery_t.c.notice_id == _find(conn, notice).id)
        return [dict(delivery_dict(r), number=r.number) for r in conn.execute(stmt)]


REDELIVER = actors.SUPERVISE


def redeliver(app: App, notice: str, *, all_: bool = False, clock: Any = None) -> dict[str, Any]:
    """Queue a notice's dead or failing deliveries again (with `all_`, sent ones too: receivers
    deduplicate by message key). Supervisor or admin."""
    from workflow.notices import _find

    now = (clock or SystemClock()).now()
    with app.db.connect(write=True) as conn:
        me = actors.lookup(conn, app.settings.actor)
        n = _find(conn, notice)
        actors.require(me, REDELIVER, f"redeliver notice {n.number}")
        statuses = ["dead", "pending", "sent"] if all_ else ["dead", "pending"]
        which = delivery_t.c.status.in_(statuses)
        count = conn.execute(
            delivery_t.update().where(delivery_t.c.notice_id == n.id, which).values(
                status="pending", attempts=0, next_attempt_at=now, claimed_at=None,
                claimed_by=None,
            )
        ).rowcount
    if count == 0 and not all_:
        raise NotFound(f"notice {n.number} has no dead or pending deliveries (try --all)")
    return {"notice": n.number, "queued": count}


# -- senders ----------------------------------------------------------------------------------

def default_senders() -> dict[str, Callable]:
    from workflow.notify import channels

    return {"file": channels.send_file, "smtp": channels.send_smtp,
            "webhook": channels.send_webhook}


def check_channels(app: App) -> None:
    """Refuse to start with a channel whose secret variables are missing (names only)."""
    cfg = app.policy.escalation.delivery
    for name, robot in cfg.webhooks.items():
        if not os.environ.get(robot.url_env):
            raise BadData(f"webhook {name}: environment variable {robot.url_env} is not set")
