"""'Today' is the policy zone's date (Asia/Shanghai) whatever the server's zone: at 23:30 UTC
it is already tomorrow in Shanghai, and the sweep sweeps tomorrow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date

import pytest

from tests.helpers import permit, project

# Run the real CLI with the clock read by workflow.app frozen at 2026-11-20 23:30 UTC.
FROZEN_CLI = """
import datetime as dt
import sys

import workflow.app

class Frozen(dt.datetime):
    @classmethod
    def now(cls, tz=None):
        moment = dt.datetime(2026, 11, 20, 23, 30, tzinfo=dt.timezone.utc)
        return moment.astimezone(tz) if tz else moment.astimezone().replace(tzinfo=None)

workflow.app.datetime = Frozen
from workflow.cli import main
sys.argv = ["workflow"] + sys.argv[1:]
main()
"""


def frozen_cli(url: str, server_zone: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKFLOW_")}
    env["TZ"] = server_zone
    return subprocess.run([sys.executable, "-c", FROZEN_CLI, "--db", url, *args], env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("server_zone", ["UTC", "America/Los_Angeles"])
def test_the_sweep_at_2330_utc_sweeps_the_shanghai_date(sqlite_app, server_zone):
    project(sqlite_app, "P1")
    permit(sqlite_app, "P1", "eia", ("accept", date(2026, 11, 6)))
    url = sqlite_app.settings.db_url
    result = frozen_cli(url, server_zone, "sweep", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["day"] == "2026-11-21"  # Saturday in Shanghai
    shown = frozen_cli(url, server_zone, "permit", "show", "P1/eia", "--json")
    assert json.loads(shown.stdout)["as_of"] == "2026-11-21"


def test_the_policy_zone_decides(sqlite_app, tmp_path):
    """The same instant is still the 20th for an office whose policy says UTC."""
    import shutil

    from workflow.policy import default_policy_dir

    policies = tmp_path / "policies"
    shutil.copytree(default_policy_dir(), policies)
    settings = policies / "settings.yaml"
    settings.write_text(settings.read_text(encoding="utf-8").replace(
        "timezone: Asia/Shanghai", "timezone: UTC"), encoding="utf-8")
    result = frozen_cli(sqlite_app.settings.db_url, "Asia/Shanghai", "--policies", str(policies),
                        "sweep", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["day"] == "2026-11-20"
