"""Labels of reports, ledger headers and the wall chart in Chinese and English.

Names of permit types, departments, states and the office come from policies; only the fixed
words of the reports live here.
"""

from __future__ import annotations

from workflow.errors import BadData

LANGS = ("zh", "en")

LABELS: dict[str, tuple[str, str]] = {
    # completion report
    "completion_title": ("手续办结情况统计", "Permit completion report"),
    "by.type": ("事项类型", "Permit type"),
    "by.department": ("审批部门", "Department"),
    "by.district": ("区县", "District"),
    "by.campaign": ("专项行动", "Campaign"),
    "required": ("应办", "Required"),
    "closed": ("已办结", "Closed"),
    "in_progress": ("在办", "In progress"),
    "pending": ("未受理", "Pending"),
    "completion_rate": ("办结率(%)", "Completion rate (%)"),
    "on_time": ("按期办结", "Closed on time"),
    "on_time_rate": ("按期办结率(%)", "On-time rate (%)"),
    "red": ("红灯", "Red"),
    "yellow": ("黄灯", "Yellow"),
    "avg_days_to_close": ("平均办结用时(工作日)", "Avg working days to close"),
    "total": ("合计", "Total"),
    "none_group": ("(未填)", "(none)"),
    "as_of": ("截至", "As of"),
    "campaign_filter": ("专项行动", "Campaign"),
    # weekly report
    "weekly_title": ("限时办结周报", "Weekly time-limit report"),
    "week": ("统计周期", "Week"),
    "summary": ("总体情况", "Summary"),
    "closings": ("本周办结", "Closed this week"),
    "new_reds": ("本周新增红灯", "New reds this week"),
    "ranking": ("部门按期办结率排名", "Departments by on-time rate"),
    "slowest": ("按期办结率最低的部门", "Slowest department"),
    "at_risk": ("可能无法按计划开工的项目", "Projects at risk of missing planned start"),
    "notices": ("督办通知", "Notices"),
    "no_notices": ("无督办通知", "no notices"),
    "notices_issued": ("本周下发", "Issued this week"),
    "notices_closed": ("本周办结", "Closed this week"),
    "nothing": ("无", "none"),
    "rank": ("名次", "Rank"),
    "project": ("项目", "Project"),
    "permit": ("手续", "Permit"),
    "closed_on": ("办结日期", "Closed on"),
    "light": ("亮灯", "Light"),
    "overdue_days": ("超期(工作日)", "Overdue (working days)"),
    "red_on": ("亮红灯日期", "Red since"),
    "planned_start": ("计划开工", "Planned start"),
    "countdown_days": ("距开工(工作日)", "Working days to start"),
    "critical_path_days": ("关键路径(工作日)", "Critical path (working days)"),
    "days_to_close": ("办结用时(工作日)", "Working days taken"),
    # lights
    "light.red": ("红", "red"),
    "light.yellow": ("黄", "yellow"),
    "light.green": ("绿", "green"),
    "light.none": ("-", "-"),
    # wall chart
    "board_title": ("重点项目手续办理挂图作战", "Key projects: permit wall chart"),
    "projects": ("项目数", "Projects"),
    "all": ("全部", "All"),
    "filter_district": ("区县", "District"),
    "filter_department": ("部门", "Department"),
    "filter_light": ("亮灯", "Light"),
    "at_risk_mark": ("开工风险", "At risk"),
    "days_to_start": ("距计划开工", "To planned start"),
    "days": ("天", "days"),
    "workdays": ("个工作日", "working days"),
    "state": ("状态", "State"),
    "due_on": ("到期日", "Due"),
    "remaining_days": ("剩余(工作日)", "Remaining (working days)"),
    "shown": ("显示", "Shown"),
    "legend_closed": ("已办结", "closed"),
    "legend_void": ("无需办理/撤回", "not required / withdrawn"),
    "open_problems": ("待解决问题", "Open problems"),
    "problems_strip": ("待解决问题", "open problems"),
    "legend_pending": ("未受理", "not accepted"),
    "generated": ("生成时间", "Generated"),
}


def check_lang(lang: str | None, default: str) -> str:
    """Return `lang` (or the policy default) after checking it is zh or en."""
    lang = lang or default
    if lang not in LANGS:
        raise BadData(f"unknown language {lang!r} (languages: zh, en)")
    return lang


def t(key: str, lang: str) -> str:
    """Return the label `key` in `lang`."""
    zh, en = LABELS[key]
    return zh if lang == "zh" else en


def light_name(light: str | None, lang: str) -> str:
    return t(f"light.{light or 'none'}", lang)
