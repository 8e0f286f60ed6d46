"""Every rendered dashboard survives Grafana's own model (grafana-foundation-sdk) and follows our conventions."""

from __future__ import annotations

import functools
import json
import re
from typing import Any

import pytest

from observe.render.renderer import render
from tests.unit.render.grafana_model import lost, round_trip

# Histograms whose buckets carry trace_id exemplars: panels over them must ask Grafana for exemplars.
EXEMPLAR_HISTOGRAMS = ("traces_span_metrics_duration_seconds", "traces_span_metrics_duration_milliseconds",
                       "traces_service_graph_request_server_seconds",
                       "observe_shipper_bulk_duration_seconds", "istio_request_duration_milliseconds")


@functools.cache
def dashboards() -> dict[str, dict[str, Any]]:
    return {o.path: json.loads(o.content) for o in render(None) if o.path.startswith("dashboards/")}


def _panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in board["panels"] if p["type"] != "row"]


@pytest.fixture(params=sorted(dashboards()))
def board(request: pytest.FixtureRequest) -> dict[str, Any]:
    return dashboards()[request.param]


def test_the_dashboard_set_is_complete() -> None:
    assert {p.split("/")[1] for p in dashboards()} == {
        "cluster-overview.json", "namespace.json", "workload.json", "pod.json", "node.json", "log-pipeline.json",
        "elasticsearch.json", "probes.json", "service-mesh.json", "service-graph.json"}


def test_dashboard_survives_the_grafana_model_panel_by_panel(board: dict[str, Any]) -> None:
    kept = round_trip(board)
    for index, panel in enumerate(board["panels"]):
        assert lost(panel, kept["panels"][index], f"panel {panel['title']!r}") == []
    rest = {k: v for k, v in board.items() if k != "panels"}
    assert lost(rest, {k: v for k, v in kept.items() if k != "panels"}) == []


def test_the_round_trip_notices_a_typo() -> None:
    board = json.loads(json.dumps(next(iter(dashboards().values()))))
    board["panels"][1]["fieldConfig"]["defaults"]["unitt"] = "bytes"
    board["panels"][1]["options"]["reduceOptionz"] = {}
    problems = lost(board, round_trip(board))
    assert any("unitt" in p for p in problems) and any("reduceOptionz" in p for p in problems)


def test_panel_ids_are_unique_and_positions_do_not_overlap(board: dict[str, Any]) -> None:
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for p in board["panels"]:
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24
        area = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not area & cells, p["title"]
        cells |= area


def test_every_panel_has_datasource_targets_description_and_unit(board: dict[str, Any]) -> None:
    for p in _panels(board):
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
        assert p["targets"] and all(t["expr"] and t["refId"] for t in p["targets"]), p["title"]
        assert len(p["description"]) > 20, p["title"]
        assert p["fieldConfig"]["defaults"]["unit"], p["title"]
        assert p["fieldConfig"]["defaults"]["thresholds"]["steps"][0]["value"] is None, p["title"]


def test_variables_datasource_and_cluster_everywhere_and_uid_stable(board: dict[str, Any]) -> None:
    names = [v["name"] for v in board["templating"]["list"]]
    assert names[:2] == ["datasource", "cluster"]
    assert board["templating"]["list"][0]["type"] == "datasource"
    assert re.fullmatch(r"observe-[a-z-]+", board["uid"]) and len(board["uid"]) <= 40
    for p in _panels(board):
        for t in p["targets"]:
            assert 'cluster="$cluster"' in t["expr"], (p["title"], t["expr"])


def test_the_set_offers_namespace_workload_and_pod_variables() -> None:
    names = {v["name"] for b in dashboards().values() for v in b["templating"]["list"]}
    assert {"datasource", "cluster", "namespace", "workload", "pod"} <= names


def test_latency_panels_ask_for_exemplars() -> None:
    for board in dashboards().values():
        for p in _panels(board):
            for t in p["targets"]:
                if any(f"{h}_bucket" in t["expr"] for h in EXEMPLAR_HISTOGRAMS) and t["format"] == "time_series":
                    assert t["exemplar"] is True, (p["title"], t["expr"])


def _links(board: dict[str, Any]) -> list[str]:
    out = []
    for p in _panels(board):
        out += [link["url"] for link in p.get("links", [])]
        out += [link["url"] for link in p["fieldConfig"]["defaults"].get("links", [])]
    return out


def test_pod_and_namespace_panels_link_to_kibana_and_latency_to_traces() -> None:
    boards = dashboards()
    for name in ("pod", "namespace", "workload", "log-pipeline"):
        urls = _links(boards[f"dashboards/{name}.json"])
        assert any("/app/discover#/" in u and "kubernetes.namespace" in u for u in urls), name
    assert any("kubernetes.pod.name" in u for u in _links(boards["dashboards/pod.json"]))
    assert any("/search?service=" in u for u in _links(boards["dashboards/service-mesh.json"]))


def test_service_graph_uses_the_node_graph_panel() -> None:
    graph = dashboards()["dashboards/service-graph.json"]
    panel = next(p for p in graph["panels"] if p["type"] == "nodeGraph")
    exprs = " ".join(t["expr"] for t in panel["targets"])
    assert '"source"' in exprs and '"target"' in exprs and '"id"' in exprs
