"""Render a notice with the Jinja2 templates in `policies/templates/`.

Templates run in a sandbox (a policy directory is data an office edits, not code) and HTML
output is autoescaped, so a project name cannot inject markup. A deployment's policy directory
may override any template; the shipped ones fill the gaps.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

from workflow.errors import BadData

FORMATS = ("md", "html", "text")
LANGUAGES = ("zh", "en")


def _zh_date(value: Any) -> str:
    d = date.fromisoformat(value) if isinstance(value, str) else value
    return f"{d.year}年{d.month}月{d.day}日" if d else ""


def _md(value: Any) -> str:
    """Keep a value inside one Markdown table cell."""
    return str(value if value is not None else "").replace("|", "\\|").replace("\n", " ")


@lru_cache(maxsize=8)
def environment(policy_dir: Path):
    from jinja2 import ChoiceLoader, FileSystemLoader, StrictUndefined, select_autoescape
    from jinja2.sandbox import SandboxedEnvironment

    from workflow.policy import default_policy_dir

    dirs = [policy_dir / "templates"]
    shipped = default_policy_dir() / "templates"
    if shipped.resolve() != dirs[0].resolve():
        dirs.append(shipped)
    env = SandboxedEnvironment(
        loader=ChoiceLoader([FileSystemLoader(str(d)) for d in dirs if d.is_dir()]),
        autoescape=select_autoescape(enabled_extensions=("html", "html.j2"),
                                     default_for_string=False),
        undefined=StrictUndefined, trim_blocks=False, keep_trailing_newline=True,
    )
    env.filters["zh_date"] = _zh_date
    env.filters["md"] = _md
    return env


def level_kind(level: Any) -> str:
    """reminder (a yellow level), supervision (a red one) or escalation (after another)."""
    if level is None:
        return "supervision"
    if level.after is not None:
        return "escalation"
    return "reminder" if level.light == "yellow" else "supervision"


def render(policy: Any, notice: dict[str, Any], fmt: str = "md", lang: str = "zh") -> str:
    """Render `notice` (as `workflow.notices.show` returns it) as md, html or text."""
    if fmt not in FORMATS:
        raise BadData(f"unknown format {fmt!r} (formats: {', '.join(FORMATS)})")
    if lang not in LANGUAGES:
        raise BadData(f"unknown language {lang!r} (languages: {', '.join(LANGUAGES)})")
    from jinja2 import TemplateError

    level = policy.escalation.levels.get(notice["level"])
    context = dict(notice, kind=level_kind(level))
    name = f"notice.{lang}.{fmt}.j2"
    try:
        return environment(policy.directory).get_template(name).render(**context)
    except TemplateError as e:
        raise BadData(f"templates/{name}: {type(e).__name__}: {e}") from None
