"""The spool `observe up` writes without Elasticsearch reaches Elasticsearch later, exactly once."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.integration.up.test_observe_up import OBSERVE, all_acknowledged, spool_documents, start_up, wait_for
from tests.peers.base import Peer

pytestmark = pytest.mark.integration


def es(peer: Peer, path: str) -> dict[str, object]:
    with urllib.request.urlopen(f"{peer.url}{path}", timeout=30) as r:
        result: dict[str, object] = json.loads(r.read())
        return result


def replay(folder: Path, es_url: str, stream: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OBSERVE_")}
    env.update({"OBSERVE_ELASTICSEARCH__URL": es_url, "OBSERVE_LOGS__DATA_STREAM": stream})
    return subprocess.run([str(OBSERVE), "ship", "--replay", str(folder)], capture_output=True, text=True,
                          timeout=120, env=env)


def test_replay_delivers_the_spool_exactly_once(elasticsearch: Peer, tmp_path: Path) -> None:
    stream = f"logs-upreplay.t{uuid.uuid4().hex[:8]}-default"
    up = start_up(tmp_path, {"OBSERVE_LOGS__DATA_STREAM": stream})
    try:
        wait_for(lambda: all_acknowledged(tmp_path))  # every line of the examples is in the spool
    finally:
        assert up.stop() == 0
    spooled = spool_documents(tmp_path)
    spool = tmp_path / "var" / "spool" / "logs"
    copy = tmp_path / "spool-copy"
    shutil.copytree(spool, copy)

    first = replay(spool, elasticsearch.url, stream)
    assert first.returncode == 0, first.stderr
    assert f"{len(spooled)} delivered, 0 duplicate, 0 deadlettered" in first.stdout
    assert not list(spool.glob("*.ndjson")) and list((spool / "replayed").glob("*.ndjson"))

    es(elasticsearch, f"/{stream}/_refresh")
    hits = es(elasticsearch, f"/{stream}/_search?size=1000&_source=false")["hits"]
    ids = sorted(h["_id"] for h in hits["hits"])  # type: ignore[index]
    assert ids == sorted(a["create"]["_id"] for a, _ in spooled)  # type: ignore[index]

    again = replay(copy, elasticsearch.url, stream)
    assert again.returncode == 0, again.stderr
    assert f"0 delivered, {len(spooled)} duplicate" in again.stdout
    es(elasticsearch, f"/{stream}/_refresh")
    assert es(elasticsearch, f"/{stream}/_count")["count"] == len(spooled)


def test_replay_without_an_elasticsearch_url_names_the_key(tmp_path: Path) -> None:
    (tmp_path / "spool").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OBSERVE_")}
    out = subprocess.run([str(OBSERVE), "ship", "--replay", str(tmp_path / "spool")], capture_output=True, text=True,
                         timeout=60, env=env)
    assert out.returncode == 2
    assert "elasticsearch.url" in out.stderr
