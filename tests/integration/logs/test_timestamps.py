"""@timestamp through `observe ship` into the real Elasticsearch: UTC with `Z`, nanoseconds kept, offset in event.timezone."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.logs.shipper_process import all_docs, count, wait_for
from tests.integration.logs.test_shipper_core import shipper
from tests.peers.base import Peer

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_local_offsets_become_utc_and_event_timezone(tmp_path: Path, elasticsearch: Peer) -> None:
    sp = shipper(tmp_path, elasticsearch, "tz", kubernetes={"enabled": "off"})
    (sp.logs_dir / "a.log").write_bytes(
        b"2024-05-14T17:12:45.002123456+08:00 stdout F local\n"
        b"2024-05-14T09:12:45.002123457Z stdout F utc\n"
        b"2024-05-14T09:12:45.002123458+00:00 stderr P zero \n"
        b"2024-05-14T09:12:45.002123459+00:00 stderr F offset\n"
    )
    sp.start()
    try:
        wait_for(lambda: count(elasticsearch.url, sp.data_stream) >= 3, 60, "3 documents", sp.log_tail)
        docs = sorted(all_docs(elasticsearch.url, sp.data_stream, ("@timestamp", "message", "event", "log")),
                      key=lambda d: d["log"]["offset"])
        assert [(d["message"], d["@timestamp"], d.get("event")) for d in docs] == [
            ("local", "2024-05-14T09:12:45.002123456Z", {"timezone": "+08:00"}),
            ("utc", "2024-05-14T09:12:45.002123457Z", None),
            ("zero offset", "2024-05-14T09:12:45.002123458Z", None),
        ]
    finally:
        sp.stop()
