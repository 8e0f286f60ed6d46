"""The node peer is one per machine: a second cluster that finds the lock held must leave the first one alone.

Found when two suites ran at once: the second's failed start ran the whole teardown (kube-proxy --cleanup, cni0
and our iptables rules removed, the pods' log folders emptied) and deleted the first cluster's record.
"""
from __future__ import annotations

import fcntl
import os
import subprocess
from pathlib import Path

import pytest

from tests.peers import node
from tests.peers.base import PeerError


def test_a_cluster_that_finds_the_lock_held_undoes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lock, record = tmp_path / "node.lock", tmp_path / "node.json"
    monkeypatch.setattr(node, "LOCK", lock)
    monkeypatch.setattr(node, "RECORD", record)
    record.write_text('{"work": "/run/observe-node-1", "pids": [], "sysctl": {}, "existed": {}}')
    ran: list[str] = []
    for step in ("_stop_processes", "_unmount", "_restore_network", "_restore_host"):
        monkeypatch.setattr(node.Cluster, step, lambda self, name=step: ran.append(name))
    with lock.open("w") as held:  # the running cluster's lock
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        cluster = node.Cluster(tmp_path / "second")
        with pytest.raises(PeerError, match="another node cluster runs"):
            cluster.start()
        cluster.stop()  # what node.start() does when start() raises
    assert ran == []
    assert record.exists(), "the running cluster's record was deleted"


def test_the_owner_of_the_lock_does_undo_its_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(node, "LOCK", tmp_path / "node.lock")
    monkeypatch.setattr(node, "RECORD", tmp_path / "node.json")
    ran: list[str] = []
    for step in ("_stop_processes", "_unmount", "_restore_network", "_restore_host"):
        monkeypatch.setattr(node.Cluster, step, lambda self, name=step: ran.append(name))
    cluster = node.Cluster(tmp_path / "first")
    cluster._lock = node.LOCK.open("w")
    fcntl.flock(cluster._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    cluster._owner = True  # as start() sets it once the lock is taken
    cluster.stop()
    assert ran == ["_stop_processes", "_unmount", "_restore_network", "_restore_host"]


def test_workdirs_of_dead_runs_are_found_and_live_ones_are_not(tmp_path: Path) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    (tmp_path / f"observe-node-{gone.pid}").mkdir()
    (tmp_path / f"observe-node-{os.getpid()}").mkdir()  # a live run
    (tmp_path / "observe-node-peer.json").write_text("{}")  # not a workdir
    current = tmp_path / "observe-node-current"
    current.mkdir()
    assert node._orphaned_workdirs(current, tmp_path) == [tmp_path / f"observe-node-{gone.pid}"]
