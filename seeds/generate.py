"""Seed a database with the demo campaign (a thin wrapper over workflow.seed).

Run: python seeds/generate.py --db sqlite:///campaign.db [--projects N] [--seed N]
                              [--description seeds/campaign.yaml] [--via bulk|library]
The database is created or upgraded (`workflow init`) and must hold no projects yet. The same
description, projects and seed always give the same projects, permits and histories.
`workflow demo` does the same and also prints the supervision summary.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", required=True, help="database URL, e.g. sqlite:///campaign.db")
    ap.add_argument("--projects", type=int, help="number of projects (default: the description's)")
    ap.add_argument("--seed", type=int, help="random seed (default: the description's)")
    ap.add_argument("--description", type=Path, help="campaign description (YAML)")
    ap.add_argument("--policies", type=Path, help="policy directory (default: the shipped one)")
    ap.add_argument("--via", choices=["bulk", "library"], default="bulk",
                    help="write in bulk (fast) or through permits.advance move by move")
    args = ap.parse_args(argv)

    from workflow.app import App, Settings
    from workflow.errors import WorkflowError
    from workflow.seed import load_description, seed
    from workflow.setup import init

    try:
        desc = load_description(args.description)
        app = App(Settings(db_url=args.db, policies=args.policies, actor="admin",
                           today=desc.demo_day))
        init(app)
        result = seed(app, projects=args.projects, seed=args.seed,
                      description=args.description, via=args.via)
    except WorkflowError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 1
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
