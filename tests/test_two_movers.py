"""Two processes move the same permit at once: one wins, the other gets the conflict error."""

import json
import os
import subprocess
import sys
import time

import sqlalchemy as sa

from tests.helpers import permit, project, setup_departments
from workflow.store.events import event_t


def test_two_processes_advance_the_same_permit_at_once(app, tmp_path):
    setup_departments(app)
    project(app, "P1")
    view = permit(app, "P1", "eia")
    go = tmp_path / "go"
    script = (
        "import os, sys, time\n"
        "from workflow.cli import main\n"
        f"while not os.path.exists({str(go)!r}): time.sleep(0.001)\n"
        "sys.argv = ['workflow'] + sys.argv[1:]\n"
        "main()\n"
    )
    env = {**os.environ, "WORKFLOW_DB": app.settings.db_url, "WORKFLOW_TODAY": "2026-11-20",
           "WORKFLOW_ACTOR": "clerk.eeb"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, "permit", "advance", "P1/eia", "accept",
             "--expect-version", str(view["version"]), "--json"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for _ in range(2)
    ]
    time.sleep(1.5)  # both processes imported everything and are waiting
    go.touch()
    outs = [p.communicate(timeout=60) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, 1], outs
    loser = next(err for p, (out, err) in zip(procs, outs) if p.returncode == 1)
    assert loser.strip().startswith("Error: P1/eia is at ")
    assert "someone moved it first" in loser
    assert "Traceback" not in loser and len(loser.strip().splitlines()) == 1
    winner = next(out for p, (out, err) in zip(procs, outs) if p.returncode == 0)
    assert json.loads(winner)["state"] == "accepted"
    with app.db.connect() as conn:
        moves = conn.execute(
            sa.select(sa.func.count()).select_from(event_t).where(event_t.c.kind == "move")
        ).scalar()
    assert moves == 1
