"""A project's light, its countdown to planned start and whether it is at risk."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from workflow.domain.clock import LIGHT_RANK, Light


def worst_light(lights: Sequence[Light]) -> Light:
    """Return the worst of `lights` (red > yellow > green > none)."""
    return max(lights, key=LIGHT_RANK.__getitem__, default=Light.NONE)


def critical_path_days(
    remaining: Mapping[str, int], prerequisites: Mapping[str, Sequence[str]]
) -> int:
    """Return the longest chain of remaining working days through the prerequisite graph.

    `remaining` maps each unfinished permit type of the project to the working days it still
    needs; finished or absent types need nothing and do not extend a chain.
    """
    memo: dict[str, int] = {}

    def chain(code: str) -> int:
        if code not in memo:
            before = max((chain(p) for p in prerequisites.get(code, ()) if p in remaining),
                         default=0)
            memo[code] = remaining[code] + before
        return memo[code]

    return max((chain(c) for c in remaining), default=0)
