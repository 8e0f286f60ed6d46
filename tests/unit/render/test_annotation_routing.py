"""Merging observe.io/alert-email namespace annotations into the team routes: values win, bad addresses are skipped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from observe.app.cli import cli
from observe.config import ConfigError
from observe.render.email_address import split_addresses
from observe.render.namespace_teams import ANNOTATION, namespace_teams
from observe.render.renderer import render
from observe.render.values import Team

PAYMENTS = Team(name="payments", email="payments@example.com", namespaces=["shop", "checkout"])


def ns(name: str, email: str | None = None, **annotations: str) -> dict[str, Any]:
    """A Namespace object as the API server lists it."""
    if email is not None:
        annotations[ANNOTATION] = email
    return {"metadata": {"name": name, "annotations": annotations or None}}


def _alertmanager(teams: list[Team]) -> dict[str, Any]:
    out = {o.path: o.content for o in render(None, extra_teams=teams)}
    data: dict[str, Any] = yaml.safe_load(out["alertmanager/alertmanager.yaml"])
    return data


def test_an_annotated_namespace_becomes_a_team_with_all_its_addresses() -> None:
    result = namespace_teams([ns("billing", " a@example.com,b.c+x@mail.example.org ,, a@example.com")], [])
    assert result.teams == [Team(name="ns-billing", email="a@example.com, b.c+x@mail.example.org",
                                 namespaces=["billing"])]
    assert result.skipped == []
    assert result.annotated == 1


def test_namespaces_without_the_annotation_are_left_to_the_severity_routes() -> None:
    result = namespace_teams([ns("plain"), ns("other", **{"observe.io/logs": "false"}), {"metadata": {}}], [])
    assert result.teams == [] and result.skipped == [] and result.annotated == 0


def test_an_invalid_address_is_skipped_with_namespace_and_key_and_the_valid_ones_stay() -> None:
    result = namespace_teams([ns("billing", "ok@example.com, not-an-address, {{ .Foo }}@x.org")], [])
    assert [t.email for t in result.teams] == ["ok@example.com"]
    assert [(s.namespace, s.reason) for s in result.skipped] == [("billing", "invalid_address")] * 2
    first = result.skipped[0].message()
    assert "namespace billing" in first and ANNOTATION in first and "'not-an-address'" in first


@pytest.mark.parametrize("value", ["", " , ", "nobody", "a@", "@example.com", "Team <t@example.com>", "a@-x.com"])
def test_an_annotation_without_a_valid_address_routes_nothing_and_says_so(value: str) -> None:
    result = namespace_teams([ns("billing", value)], [])
    assert result.teams == []
    assert result.skipped[-1].reason == "no_valid_address"
    assert result.skipped_by_reason()["no_valid_address"] == 1


def test_values_win_over_the_annotation_of_a_namespace_they_route() -> None:
    result = namespace_teams([ns("shop", "someone-else@example.com"), ns("billing", "b@example.com")], [PAYMENTS])
    assert [t.name for t in result.teams] == ["ns-billing"]
    (skip,) = result.skipped
    assert (skip.namespace, skip.reason) == ("shop", "owned_by_values_team")
    assert "values team payments" in skip.message()


def test_a_values_namespace_regex_claims_matching_namespaces_like_alertmanager_does() -> None:
    regex = Team(name="staging", email="qa@example.com", namespaces=["staging-.*"])
    result = namespace_teams([ns("staging-1", "x@example.com"), ns("staging", "y@example.com")], [regex])
    assert [t.namespaces for t in result.teams] == [["staging"]]
    assert [s.namespace for s in result.skipped] == ["staging-1"]


def test_a_values_team_holding_the_generated_name_keeps_it() -> None:
    clash = Team(name="ns-billing", email="x@example.com", namespaces=["elsewhere"])
    result = namespace_teams([ns("billing", "b@example.com")], [clash])
    assert result.teams == [] and [s.reason for s in result.skipped] == ["name_taken"]


def test_teams_come_out_sorted_by_namespace_whatever_the_list_order() -> None:
    items = [ns("zeta", "z@example.com"), ns("alpha", "a@example.com"), ns("mid", "m@example.com")]
    assert [t.name for t in namespace_teams(items, []).teams] == ["ns-alpha", "ns-mid", "ns-zeta"]
    assert namespace_teams(items, []) == namespace_teams(list(reversed(items)), [])


def test_annotation_teams_render_receivers_and_routes_after_the_values_teams(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"alertmanager": {"teams": [PAYMENTS.model_dump()]}}))
    teams = namespace_teams([ns("billing", "b1@example.com,b2@example.com")], [PAYMENTS]).teams
    out = {o.path: o.content for o in render(values, extra_teams=teams)}
    config = yaml.safe_load(out["alertmanager/alertmanager.yaml"])
    routes = config["route"]["routes"]
    receivers = [r["receiver"] for r in routes]
    assert receivers.index("team-payments") < receivers.index("team-ns-billing") < receivers.index("critical")
    billing = routes[receivers.index("team-ns-billing")]
    assert billing["matchers"] == ['namespace=~"billing"']
    assert billing["routes"] == [{"receiver": "team-ns-billing-critical", "matchers": ['severity="critical"']}]
    to = {r["name"]: [e["to"] for e in r.get("email_configs", [])] for r in config["receivers"]}
    assert to["team-ns-billing"] == ["b1@example.com, b2@example.com"]
    assert to["team-ns-billing-critical"] == ["b1@example.com, b2@example.com, oncall-critical@example.com"]


def test_without_annotation_teams_the_render_is_unchanged() -> None:
    assert render(None, extra_teams=[]) == render(None)
    assert "team-ns-" not in str(_alertmanager([]))


def test_values_teams_accept_several_addresses_and_name_the_key_of_a_bad_one(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    team = {"name": "payments", "email": "a@example.com,b@example.com", "namespaces": ["shop"]}
    values.write_text(yaml.safe_dump({"alertmanager": {"teams": [team]}}))
    config = yaml.safe_load({o.path: o.content for o in render(values)}["alertmanager/alertmanager.yaml"])
    assert [e["to"] for r in config["receivers"] if r["name"] == "team-payments" for e in r["email_configs"]] == [
        "a@example.com, b@example.com"]
    values.write_text(yaml.safe_dump({"alertmanager": {"teams": [{**team, "email": "a@example.com, nope"}]}}))
    with pytest.raises(ConfigError, match=r"alertmanager\.teams\.0\.email.*nope"):
        render(values)


def test_split_addresses_keeps_order_and_reports_each_bad_piece_once() -> None:
    assert split_addresses("b@x.org, a@x.org, b@x.org, bad, bad") == (["b@x.org", "a@x.org"], ["bad"])


def test_from_cluster_without_credentials_exits_2_and_says_where_it_looked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.setenv("HOME", str(tmp_path))
    result = CliRunner().invoke(cli, ["render", "--out", str(tmp_path / "out"), "--from-cluster"])
    assert result.exit_code == 2, result.output
    assert "no Kubernetes credentials" in result.output and "--kubeconfig" in result.output
    assert not (tmp_path / "out").exists()


def test_a_values_namespace_the_regex_engine_refuses_is_taken_as_plain_text() -> None:
    """re.compile raises OverflowError and RecursionError for some patterns, not re.error: the render stopped."""
    odd = Team(name="odd", email="o@example.com", namespaces=["x{4294967296}", "(" * 5000 + ")" * 5000])
    result = namespace_teams([ns("billing", "b@example.com")], [odd])
    assert [t.namespaces for t in result.teams] == [["billing"]]
