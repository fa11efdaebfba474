"""Channels: write a file, send an e-mail, post to a group robot. Each raises on failure.

Secrets (the SMTP password, a robot's URL with its token, the DingTalk signing secret) are read
from environment variables that the policy names; they never reach the database or a message.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from workflow.app import App


class DeliveryError(Exception):
    """A send that failed; the message is safe to store (no secrets, no URLs)."""


def _notice(app: App, row: Any) -> dict[str, Any]:
    from workflow.notices import show

    return show(app, row.notice_id)


def _render(app: App, notice: dict, fmt: str, lang: str) -> str:
    from workflow.notify.render import render

    return render(app.policy, notice, fmt, lang)


def _secret(name: str | None, what: str) -> str | None:
    if not name:
        return None
    value = os.environ.get(name)
    if not value:
        raise DeliveryError(f"{what}: environment variable {name} is not set")
    return value


def notice_directory(app: App) -> Path:
    """Where the file channel writes: WORKFLOW_NOTICE_DIR, else the policy's directory."""
    configured = app.policy.escalation.delivery.file.directory
    return Path(os.environ.get("WORKFLOW_NOTICE_DIR") or configured)


def send_file(app: App, row: Any) -> None:
    """Write the rendered notice (every configured format and language) into the directory.

    Names derive from the message key, and each file is written to a temporary name and renamed,
    so a retry overwrites the same file and a reader never sees half a notice.
    """
    cfg = app.policy.escalation.delivery
    notice = _notice(app, row)
    folder = notice_directory(app) / str(notice["issued_on"][:4])
    folder.mkdir(parents=True, exist_ok=True)
    stem = row.message_key.rsplit("-file-", 1)[0]
    for lang in cfg.language:
        for fmt in cfg.file.formats:
            path = folder / f"{stem}.{lang}.{'txt' if fmt == 'text' else fmt}"
            tmp = path.with_suffix(path.suffix + ".tmp")
            tmp.write_text(_render(app, notice, fmt, lang), encoding="utf-8")
            os.replace(tmp, path)


def send_smtp(app: App, row: Any) -> None:
    """Send one e-mail (text and HTML) to `row.target`, with the message key as Message-ID."""
    import smtplib
    import ssl
    from email.message import EmailMessage
    from email.utils import formatdate

    cfg = app.policy.escalation.delivery
    smtp = cfg.smtp
    lang = cfg.language[0]
    notice = _notice(app, row)
    msg = EmailMessage()
    title = notice["title"] if lang == "zh" else notice["title_en"]
    msg["Subject"] = f"{notice['number']} {title}"
    msg["From"] = smtp.sender
    msg["To"] = row.target
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = f"<{row.message_key}@workflow>"
    msg["X-Workflow-Message-Key"] = row.message_key
    msg.set_content(_render(app, notice, "text", lang))
    msg.add_alternative(_render(app, notice, "html", lang), subtype="html")
    password = _secret(smtp.password_env, "smtp") if smtp.username else None
    # verify the server's certificate (smtplib's own default context does not)
    tls = ssl.create_default_context(cafile=smtp.ca_file) if smtp.ssl or smtp.starttls else None
    if smtp.ssl:
        client = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout_seconds, context=tls)
    else:
        client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_seconds)
    with client:
        if smtp.starttls and not smtp.ssl:
            client.starttls(context=tls)
        if smtp.username:
            client.login(smtp.username, password)
        client.send_message(msg)


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk robot signature: base64(HMAC-SHA256(secret, "timestamp\\nsecret"))."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode(),
                      hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def robot_payload(kind: str, title: str, text: str) -> dict[str, Any]:
    """The group-robot JSON: DingTalk `markdown` {title, text}, WeCom `markdown` {content}."""
    if kind == "dingtalk":
        return {"msgtype": "markdown", "markdown": {"title": title, "text": text}}
    return {"msgtype": "markdown", "markdown": {"content": text}}


def _truncate(text: str, limit: int, more: str) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - len(more) - 1].rsplit("\n", 1)[0] + "\n" + more


def send_webhook(app: App, row: Any, now_ms: int | None = None) -> None:
    """POST the notice (Markdown) to the robot named `row.target`; signed when it has a secret."""
    cfg = app.policy.escalation.delivery
    robot = cfg.webhooks.get(row.target)
    if robot is None:
        raise DeliveryError(f"webhook {row.target}: not configured in escalation.yaml")
    url = _secret(robot.url_env, f"webhook {row.target}")
    secret = _secret(robot.secret_env, f"webhook {row.target}") if robot.secret_env else None
    lang = cfg.language[0]
    notice = _notice(app, row)
    title = f"{notice['number']} {notice['title'] if lang == 'zh' else notice['title_en']}"
    more = "……（全文见正式通知）" if lang == "zh" else "... (see the full notice)"
    text = _truncate(_render(app, notice, "md", lang), robot.max_chars, more)
    if secret and robot.kind == "dingtalk":
        ts = now_ms if now_ms is not None else int(time.time() * 1000)
        sep = "&" if urllib.parse.urlsplit(url).query else "?"
        url = f"{url}{sep}timestamp={ts}&sign={urllib.parse.quote_plus(dingtalk_sign(secret, ts))}"
    body = json.dumps(robot_payload(robot.kind, title, text), ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json; charset=utf-8",
        "X-Workflow-Message-Key": row.message_key,
    })
    try:
        with urllib.request.urlopen(request, timeout=robot.timeout_seconds) as response:
            status = response.status
            raw = response.read()
    except urllib.error.HTTPError as e:
        raise DeliveryError(f"webhook {row.target}: HTTP {e.code}") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise DeliveryError(f"webhook {row.target}: {reason}") from None
    if status != 200:
        raise DeliveryError(f"webhook {row.target}: HTTP {status}")
    try:
        answer = json.loads(raw or b"{}")
    except ValueError:
        answer = {}
    if isinstance(answer, dict) and answer.get("errcode", 0) != 0:
        raise DeliveryError(
            f"webhook {row.target}: robot error {answer.get('errcode')}: "
            f"{str(answer.get('errmsg', ''))[:200]}"
        )
