"""The Debian-packaged peers are installed and work: promtool, amtool, Alertmanager, the SMTP sink."""

from __future__ import annotations

import smtplib
import subprocess
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from tests.peers.smtp import SmtpSink


def test_promtool_checks_a_rule_file(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up == 0\n    for: 1m\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up ==\n")
    assert subprocess.run(["promtool", "check", "rules", str(good)], capture_output=True).returncode == 0
    out = subprocess.run(["promtool", "check", "rules", str(bad)], capture_output=True, text=True)
    assert out.returncode != 0 and "parse error" in (out.stdout + out.stderr)


def test_amtool_checks_a_config_and_alertmanager_starts(tmp_path: Path, alertmanager_factory: Any) -> None:
    cfg = tmp_path / "am.yml"
    cfg.write_text("route:\n  receiver: r\nreceivers:\n- name: r\n")
    out = subprocess.run(["amtool", "check-config", str(cfg)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    peer = alertmanager_factory(cfg)
    assert peer.alive()
    bad = tmp_path / "bad.yml"
    bad.write_text("route:\n  receiver: missing\nreceivers: []\n")
    assert subprocess.run(["amtool", "check-config", str(bad)], capture_output=True).returncode != 0


def test_smtp_sink_receives_a_message_with_headers_intact(smtp_sink: SmtpSink) -> None:
    msg = EmailMessage()
    msg["From"] = "alertmanager@observe.test"
    msg["To"] = "team-a@example.test"
    msg["Subject"] = "[FIRING:1] KubePodCrashLooping"
    msg["X-Observe-Test"] = "yes"
    msg.set_content("text body")
    msg.add_alternative("<p>html &amp; body</p>", subtype="html")
    with smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=10) as client:
        client.send_message(msg)
    got = smtp_sink.wait_for(lambda m: "team-a@example.test" in m.rcpt_tos, timeout=10)
    assert got.message["Subject"] == "[FIRING:1] KubePodCrashLooping"
    assert got.message["X-Observe-Test"] == "yes"
    assert got.mail_from == "alertmanager@observe.test"
    html = got.message.get_body(("html",))
    assert html is not None and "html &amp; body" in html.get_content()
