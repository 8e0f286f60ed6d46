"""Team routes from the `observe.io/alert-email` annotation on Namespaces, merged under the values' teams.

Each annotated namespace becomes a team `ns-<namespace>` (receivers `team-ns-<namespace>` and
`team-ns-<namespace>-critical`) routed after the values' teams. The values win: a namespace that a values team
already claims keeps that team, and its annotation is reported and ignored. Bad input never fails the render;
every address or annotation left out is returned as a Skipped with the namespace, the key and the reason.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from observe.config import KubeConfig
from observe.config_input import REGEX_ERRORS
from observe.render.email_address import split_addresses
from observe.render.values import Team

ANNOTATION = "observe.io/alert-email"
TEAM_PREFIX = "ns-"
PAGE_SIZE = 500


@dataclass(frozen=True)
class Skipped:
    """An annotation, or one address in it, left out of the routing, and why."""

    namespace: str
    value: str
    reason: str  # invalid_address | no_valid_address | owned_by_values_team | name_taken | invalid_team
    detail: str

    def message(self) -> str:
        """One line naming the namespace, the annotation key and value, and what happened."""
        return f"namespace {self.namespace}: annotation {ANNOTATION}={self.value!r}: {self.detail}"


@dataclass(frozen=True)
class NamespaceTeams:
    """The teams built from annotations, and everything skipped on the way."""

    teams: list[Team]
    skipped: list[Skipped]
    annotated: int

    def skipped_by_reason(self) -> dict[str, int]:
        """How many skips per reason, sorted by reason."""
        return dict(sorted(Counter(s.reason for s in self.skipped).items()))


def _owner(values_teams: Sequence[Team]) -> Callable[[str], str | None]:
    # Alertmanager anchors `namespace=~"a|b"`, so a values entry may be a regex; match it the same way.
    patterns: list[tuple[re.Pattern[str] | None, str, str]] = []
    for team in values_teams:
        for ns in team.namespaces:
            try:
                patterns.append((re.compile(ns), ns, team.name))
            except REGEX_ERRORS:
                patterns.append((None, ns, team.name))

    def owner(namespace: str) -> str | None:
        for pattern, text, team in patterns:
            if (pattern.fullmatch(namespace) if pattern else text == namespace):
                return team
        return None

    return owner


def namespace_teams(namespaces: Iterable[Mapping[str, Any]], values_teams: Sequence[Team]) -> NamespaceTeams:
    """One team per namespace annotated observe.io/alert-email, sorted by namespace; values teams win."""
    owner = _owner(values_teams)
    taken = {t.name for t in values_teams}
    teams: list[Team] = []
    skipped: list[Skipped] = []
    annotated = 0
    metas = [ns.get("metadata") or {} for ns in namespaces]
    for meta in sorted(metas, key=lambda m: str(m.get("name", ""))):
        value = (meta.get("annotations") or {}).get(ANNOTATION)
        if value is None:
            continue
        annotated += 1
        name = str(meta.get("name", ""))
        claimed = owner(name)
        if claimed is not None:
            skipped.append(Skipped(name, value, "owned_by_values_team",
                                   f"ignored: values team {claimed} routes this namespace (values win)"))
            continue
        valid, invalid = split_addresses(value)
        skipped += [Skipped(name, value, "invalid_address",
                            f"{bad!r} is not an email address like team@example.com; skipped") for bad in invalid]
        if not valid:
            skipped.append(Skipped(name, value, "no_valid_address",
                                   "no valid address in it; the namespace keeps the severity routing"))
            continue
        team_name = TEAM_PREFIX + name
        if team_name in taken:
            skipped.append(Skipped(name, value, "name_taken",
                                   f"ignored: a values team is already named {team_name}; rename that team"))
            continue
        try:
            teams.append(Team(name=team_name, email=", ".join(valid), namespaces=[name]))
        except ValidationError as exc:
            skipped.append(Skipped(name, value, "invalid_team", f"ignored: {exc.errors()[0]['msg']}"))
    return NamespaceTeams(teams, skipped, annotated)


async def list_namespaces(kube: KubeConfig) -> list[dict[str, Any]]:
    """Every Namespace object, paged, through the suite's Kubernetes client."""
    # Imported here: loading kubernetes_asyncio costs time that a plain `observe render` should not pay.
    from observe.kube import KubeClient

    client = await KubeClient.from_config(kube)
    try:
        items: list[dict[str, Any]] = []
        params = {"limit": str(PAGE_SIZE)}
        while True:
            page = await client.request("GET", "/api/v1/namespaces", params=params)
            items += page.get("items") or []
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return items
            params = {"limit": str(PAGE_SIZE), "continue": token}
    finally:
        await client.close()
