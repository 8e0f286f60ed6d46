"""The rendered Alertmanager config in a real Alertmanager: team routing by email, escaping, and inhibition."""

from __future__ import annotations

import json
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from observe.render.renderer import render, write
from tests.peers.base import Peer
from tests.peers.smtp import Received, SmtpSink

pytestmark = pytest.mark.integration
HERE = Path(__file__).parent


def start_alertmanager(tmp_path: Path, sink: SmtpSink, factory: Any) -> Peer:
    """Render the test values with the sink as smarthost and start a real Alertmanager on the result."""
    values = yaml.safe_load((HERE / "values.yaml").read_text())
    values["alertmanager"]["smtp"]["smarthost"] = sink.smarthost
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    out = tmp_path / "render"
    write(render(path), out)
    return factory(out / "alertmanager" / "alertmanager.yaml")


def post_alerts(peer: Peer, alerts: list[dict[str, Any]]) -> None:
    now = datetime.now(UTC).isoformat()
    body = [{"startsAt": now, "generatorURL": "http://prometheus.test/graph", **a} for a in alerts]
    req = urllib.request.Request(f"{peer.url}/api/v2/alerts", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    urllib.request.urlopen(req, timeout=10).close()


def _html(msg: Received) -> str:
    part = msg.message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


def _text(msg: Received) -> str:
    part = msg.message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def test_critical_alert_in_a_team_namespace_mails_the_team_with_escaped_labels(
        tmp_path: Path, smtp_sink: SmtpSink, alertmanager_factory: Any) -> None:
    am = start_alertmanager(tmp_path, smtp_sink, alertmanager_factory)
    post_alerts(am, [{
        "labels": {"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": "api-1", "severity": "critical",
                   "container": "<script>alert(1)</script>"},
        "annotations": {"summary": "Pod is crash looping.", "description": "Pod shop/api-1 restarted 7 times & more.",
                        "runbook_url": "https://runbooks.test/KubePodCrashLooping.md",
                        "dashboard_url": "http://grafana.test/d/observe-pod?var-namespace=shop&var-pod=api-1",
                        "logs_url": "http://kibana.test/app/discover#/?_a=(query:'kubernetes.namespace:%22shop%22')"},
    }])
    msg = smtp_sink.wait_for(lambda m: "KubePodCrashLooping" in str(m.message["Subject"]), timeout=60)
    assert sorted(msg.rcpt_tos) == ["oncall-critical@observe.test", "payments@observe.test"]
    assert msg.message["Subject"] == "[FIRING:1] KubePodCrashLooping in shop (critical): Pod is crash looping."
    html = _html(msg)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "restarted 7 times &amp; more" in html
    assert 'href="https://runbooks.test/KubePodCrashLooping.md"' in html
    assert "http://grafana.test/d/observe-pod?var-namespace=shop&amp;var-pod=api-1" in html
    assert "kibana.test/app/discover" in html
    text = _text(msg)
    assert "container = <script>alert(1)</script>" in text  # plain text stays literal
    assert "Runbook: https://runbooks.test/KubePodCrashLooping.md" in text
    assert "Logs: http://kibana.test/app/discover" in text


def test_critical_inhibits_the_warning_of_the_same_alert_and_namespace(
        tmp_path: Path, smtp_sink: SmtpSink, alertmanager_factory: Any) -> None:
    am = start_alertmanager(tmp_path, smtp_sink, alertmanager_factory)
    common = {"alertname": "KubePersistentVolumeFillingUp", "namespace": "unowned", "persistentvolumeclaim": "data"}
    post_alerts(am, [{"labels": {**common, "severity": "critical"}, "annotations": {"summary": "full"}},
                     {"labels": {**common, "severity": "warning"}, "annotations": {"summary": "filling"}},
                     {"labels": {**common, "namespace": "other", "severity": "warning"}, "annotations": {"summary": "filling"}}])
    deadline = time.monotonic() + 30
    states: dict[tuple[str, str], list[str]] = {}
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{am.url}/api/v2/alerts", timeout=10) as r:
            alerts = json.load(r)
        states = {(a["labels"]["namespace"], a["labels"]["severity"]): a["status"]["inhibitedBy"] for a in alerts}
        if len(states) == 3 and states[("unowned", "warning")]:
            break
        time.sleep(0.5)
    assert states[("unowned", "warning")], states
    assert not states[("unowned", "critical")]
    assert not states[("other", "warning")]  # another namespace is not inhibited
    smtp_sink.wait_for(lambda m: m.rcpt_tos == ["oncall-critical@observe.test"])
    smtp_sink.wait_for(lambda m: m.rcpt_tos == ["oncall@observe.test"] and "in other" in str(m.message["Subject"]))
    time.sleep(3)
    subjects = [str(m.message["Subject"]) for m in smtp_sink.messages]
    assert not any("in unowned (warning)" in s for s in subjects), subjects
