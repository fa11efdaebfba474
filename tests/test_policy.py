"""Policies validate on load; errors name the file and the key."""

import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from workflow.cli import cli
from workflow.errors import PolicyError
from workflow.policy import default_policy_dir, load_policy


@pytest.fixture
def policy_dir(tmp_path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(default_policy_dir(), target)
    return target


def edit(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def test_shipped_policies_load_with_every_required_permit_type():
    p = load_policy()
    for code in ("approval", "land_prereview", "land_use_planning", "engineering_planning",
                 "land_supply", "eia", "energy", "stability", "safety", "construction", "power"):
        assert code in p.permit_types
    order = p.type_order()
    for code, t in p.permit_types.items():
        for pre in t.prerequisites:
            assert order.index(pre) < order.index(code)


@pytest.mark.parametrize(
    "file, change, message",
    [
        ("permits.yaml", lambda d: d["permits"]["eia"]["promised_days"].update(county=0),
         "policies/permits.yaml: permits.eia.promised_days.county: must be a positive integer"),
        ("permits.yaml", lambda d: d["permits"]["eia"]["promised_days"].update(county="ten"),
         "policies/permits.yaml: permits.eia.promised_days.county: must be an integer"),
        ("permits.yaml", lambda d: d["permits"]["eia"].update(colour="red"),
         "policies/permits.yaml: permits.eia.colour: unknown key"),
        ("permits.yaml", lambda d: d["permits"]["eia"].update(department="nowhere"),
         "policies/permits.yaml: permits.eia.department: unknown department 'nowhere'"),
        ("permits.yaml", lambda d: d["permits"]["approval"].update(prerequisites=["construction"]),
         "policies/permits.yaml: permits.approval.prerequisites: cycle"),
        ("permits.yaml", lambda d: d["permits"]["eia"].update(prerequisites=["nothing"]),
         "policies/permits.yaml: permits.eia.prerequisites: unknown permit type 'nothing'"),
        ("permits.yaml", lambda d: d["permits"]["eia"].update(warning={"elapsed_percent": 120}),
         "policies/permits.yaml: permits.eia.warning.elapsed_percent: must be at most 100"),
        ("lifecycle.yaml", lambda d: d["events"]["accept"].update(to="limbo"),
         "policies/lifecycle.yaml: events.accept.to: unknown state 'limbo'"),
        ("lifecycle.yaml", lambda d: d["events"]["approve"].update(roles=["viewer"]),
         "policies/lifecycle.yaml: events.approve.roles: a viewer may change nothing"),
        ("lifecycle.yaml", lambda d: d["states"]["accepted"].update(phase="sleeping"),
         "policies/lifecycle.yaml: states.accepted.phase: must be one of"),
        ("settings.yaml", lambda d: d.update(timezone="Mars/Olympus"),
         "policies/settings.yaml: timezone: unknown time zone 'Mars/Olympus'"),
        ("departments.yaml", lambda d: d["departments"]["eeb"].pop("zh"),
         "policies/departments.yaml: departments.eeb.zh: is required"),
    ],
)
def test_errors_name_the_file_and_the_key(policy_dir, file, change, message):
    edit(policy_dir / file, change)
    with pytest.raises(PolicyError) as e:
        load_policy(policy_dir)
    assert str(e.value).startswith(message)
    result = CliRunner().invoke(cli, ["policy", "check", str(policy_dir)])
    assert result.exit_code == 1
    assert result.output.strip().startswith(f"Error: {message}")
    assert len(result.output.strip().splitlines()) == 1


def test_broken_yaml_names_the_line(policy_dir):
    (policy_dir / "permits.yaml").write_text("permits:\n  eia: [unclosed\n", encoding="utf-8")
    with pytest.raises(PolicyError, match=r"policies/permits.yaml: line \d+"):
        load_policy(policy_dir)


def test_calendar_dates_must_lie_in_their_year(policy_dir):
    path = policy_dir / "calendars" / "cn-mainland.yaml"
    text = path.read_text(encoding="utf-8").replace("  2026:\n    holidays:\n",
                                                    "  2026:\n    holidays:\n      2025-06-01: x\n")
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError, match=r"calendars/cn-mainland.yaml: years.2026.holidays.2025-06-01"):
        load_policy(policy_dir)


def test_a_deployment_can_add_a_state_and_an_event_without_code(policy_dir):
    def add(d):
        d["states"]["expert_review"] = {"zh": "专家评审", "en": "Expert review", "phase": "paused"}
        d["events"]["send_to_experts"] = {
            "zh": "专家评审", "en": "Send to experts", "from": ["accepted"],
            "to": "expert_review", "clock": "pause", "reason": True, "roles": ["department"]}
        d["events"]["resume"]["from"].append("expert_review")
    edit(policy_dir / "lifecycle.yaml", add)
    p = load_policy(policy_dir)
    assert p.lifecycle.phase("expert_review").value == "paused"


def test_policy_check_and_show(policy_dir):
    r = CliRunner().invoke(cli, ["policy", "check", str(policy_dir)])
    assert r.exit_code == 0 and "11 permit types" in r.output
    r = CliRunner().invoke(cli, ["--policies", str(policy_dir), "policy", "show", "--json"])
    assert r.exit_code == 0
    import json

    codes = {t["code"]: t for t in json.loads(r.output)}
    assert codes["eia"]["promised_days"]["county"] == 10
