"""`observe render --kubeconfig` on a real kube-apiserver: namespaces annotated observe.io/alert-email get their own
team route (amtool proves it), and a real Alertmanager mails the annotated addresses."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.alerts.test_alertmanager_email import _text, post_alerts
from tests.integration.alerts.test_amtool import _amtool
from tests.peers import alertmanager
from tests.peers.base import Peer
from tests.peers.kube import create_namespace, kube_request
from tests.peers.smtp import SmtpSink

pytestmark = pytest.mark.integration
HERE = Path(__file__).parent
ANNOTATION = "observe.io/alert-email"


def annotate(peer: Peer, namespace: str, value: str) -> None:
    """Set the alert-email annotation on a namespace in the real API server."""
    kube_request(peer, "PATCH", f"/api/v1/namespaces/{namespace}", {"metadata": {"annotations": {ANNOTATION: value}}})


def render_from_cluster(tmp_path: Path, peer: Peer, *, smarthost: str | None = None,
                        payments_also: Sequence[str] = ()) -> tuple[Path, str]:
    """Run the real CLI with the test values and the API server's kubeconfig; returns the config path and stderr."""
    values = yaml.safe_load((HERE / "values.yaml").read_text())
    values["alertmanager"]["teams"][0]["namespaces"] += list(payments_also)
    if smarthost:
        values["alertmanager"]["smtp"]["smarthost"] = smarthost
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    out = tmp_path / "render"
    result = subprocess.run([sys.executable, "-m", "observe", "render", "--values", str(path), "--out", str(out),
                             "--kubeconfig", str(peer.extra["kubeconfig"])], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return out / "alertmanager" / "alertmanager.yaml", result.stderr


def routes_to(config: Path, receiver: str, **labels: str) -> None:
    """amtool config routes test: the alert with these labels goes to exactly `receiver`."""
    result = _amtool("config", "routes", "test", f"--config.file={config}", f"--verify.receivers={receiver}",
                     *(f"{k}={v}" for k, v in labels.items()))
    assert result.returncode == 0, result.stdout + result.stderr


def test_amtool_routes_an_annotated_namespace_to_its_team_while_values_win_and_bad_addresses_are_reported(
        tmp_path: Path, kube_apiserver: Peer, kube_namespace: str) -> None:
    alertmanager.install()
    billing = kube_namespace
    annotate(kube_apiserver, billing, "billing-a@observe.test, billing-b@observe.test")
    owned = create_namespace(kube_apiserver, "owned")
    annotate(kube_apiserver, owned, "intruder@observe.test")
    broken = create_namespace(kube_apiserver, "broken")
    annotate(kube_apiserver, broken, "not-an-address")
    plain = create_namespace(kube_apiserver, "plain")

    config, stderr = render_from_cluster(tmp_path, kube_apiserver, payments_also=[owned])
    check = _amtool("check-config", config)
    assert check.returncode == 0, check.stdout + check.stderr

    routes_to(config, f"team-ns-{billing}-critical", alertname="KubePodCrashLooping", namespace=billing,
              severity="critical")
    routes_to(config, f"team-ns-{billing}", alertname="KubePodNotReady", namespace=billing, severity="warning")
    routes_to(config, "team-payments-critical", alertname="KubePodCrashLooping", namespace=owned, severity="critical")
    routes_to(config, "default", alertname="KubePodNotReady", namespace=broken, severity="warning")
    routes_to(config, "default", alertname="KubePodNotReady", namespace=plain, severity="warning")
    routes_to(config, "team-payments", alertname="KubePodNotReady", namespace="shop", severity="warning")

    receivers = {r["name"]: r for r in yaml.safe_load(config.read_text())["receivers"]}
    assert [e["to"] for e in receivers[f"team-ns-{billing}"]["email_configs"]] == [
        "billing-a@observe.test, billing-b@observe.test"]
    assert f"team-ns-{owned}" not in receivers and f"team-ns-{broken}" not in receivers
    assert f"warning: namespace {broken}: annotation {ANNOTATION}='not-an-address'" in stderr
    assert f"warning: namespace {owned}: annotation {ANNOTATION}='intruder@observe.test': ignored: values team payments" \
        in stderr
    assert "skipped: 1 invalid_address, 1 no_valid_address, 1 owned_by_values_team" in stderr


def test_real_alertmanager_mails_an_alert_of_an_annotated_namespace_to_the_annotated_addresses(
        tmp_path: Path, kube_apiserver: Peer, kube_namespace: str, smtp_sink: SmtpSink,
        alertmanager_factory: Any) -> None:
    annotate(kube_apiserver, kube_namespace, "ops-a@observe.test,ops-b@observe.test")
    config, _ = render_from_cluster(tmp_path, kube_apiserver, smarthost=smtp_sink.smarthost)
    am = alertmanager_factory(config)
    post_alerts(am, [
        {"labels": {"alertname": "KubePodCrashLooping", "namespace": kube_namespace, "pod": "api-0",
                    "severity": "warning"},
         "annotations": {"summary": "Pod is crash looping.", "description": f"Pod {kube_namespace}/api-0 restarted 5 times.",
                         "runbook_url": "https://runbooks.test/KubePodCrashLooping.md"}},
        {"labels": {"alertname": "KubePodCrashLooping", "namespace": "unannotated", "pod": "api-0",
                    "severity": "warning"},
         "annotations": {"summary": "Pod is crash looping."}},
    ])
    msg = smtp_sink.wait_for(lambda m: f"in {kube_namespace} " in str(m.message["Subject"]), timeout=60)
    assert sorted(msg.rcpt_tos) == ["ops-a@observe.test", "ops-b@observe.test"]
    assert msg.message["To"] is not None and "ops-a@observe.test" in str(msg.message["To"])
    assert msg.message["Subject"] == f"[FIRING:1] KubePodCrashLooping in {kube_namespace} (warning): Pod is crash looping."
    text = _text(msg)
    assert f"Pod {kube_namespace}/api-0 restarted 5 times." in text
    assert "Runbook: https://runbooks.test/KubePodCrashLooping.md" in text
    other = smtp_sink.wait_for(lambda m: "in unannotated " in str(m.message["Subject"]), timeout=60)
    assert other.rcpt_tos == ["oncall@observe.test"]
