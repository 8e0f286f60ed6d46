"""Multiline through `observe ship` into the real Elasticsearch: CRI partial lines interleaved across streams and files.

The container runtime splits long lines into `P` parts and writes stdout and stderr into one file, interleaved.
The shipped documents must hold each trace whole, per stream, exactly once, also across a SIGKILL.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from tests.integration.logs.shipper_process import ShipperProcess, all_docs, count, wait_for
from tests.integration.logs.test_shipper_core import shipper
from tests.peers.base import Peer
from tests.unit.logs import traces

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TS = "2024-05-14T09:00:00.{:09d}Z"
INFO = "2024-05-14 09:12:45.002  INFO 1 --- [main] c.e.Orders : GET /orders/7 200"


def cri(lines: list[str], stream: str, *, split: int = 90) -> list[bytes]:
    """CRI records of one stream: every line longer than `split` is cut into P parts, then F."""
    out: list[bytes] = []
    for line in lines:
        parts = [line[i:i + split] for i in range(0, len(line), split)] or [""]
        for i, part in enumerate(parts):
            tag = "F" if i == len(parts) - 1 else "P"
            out.append(f"{TS.format(len(out))} {stream} {tag} {part}\n".encode())
    return out


def interleave(*streams: list[bytes]) -> bytes:
    """Alternate the streams' physical records one by one, as the runtime's writes land in the file."""
    return b"".join(x for x in itertools.chain.from_iterable(itertools.zip_longest(*streams)) if x is not None)


def stdout_stderr_file() -> tuple[bytes, list[str], list[str]]:
    stdout = [INFO, *traces.SPRING_CAUSED_BY.split("\n"), INFO, *traces.DUBBO.split("\n"), "done"]
    stderr = [*traces.PYTHON.split("\n"), *traces.GO_PANIC.split("\n")]
    data = interleave(cri(stdout, "stdout"), cri(stderr, "stderr"))
    return data, [INFO, traces.SPRING_CAUSED_BY, INFO, traces.DUBBO, "done"], [traces.PYTHON, traces.GO_PANIC]


def by_stream(docs: list[dict[str, Any]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for d in sorted(docs, key=lambda d: (d["log"]["file"]["path"], d["log"]["offset"])):
        out.setdefault(f'{Path(d["log"]["file"]["path"]).name}/{d["log"]["iostream"]}', []).append(d["message"])
    return out


def start(tmp_path: Path, peer: Peer, name: str, flush_seconds: float = 1.0) -> ShipperProcess:
    return shipper(tmp_path, peer, name, multiline={"mode": "auto", "flush_seconds": flush_seconds},
                   kubernetes={"enabled": "off"})


def test_traces_in_interleaved_cri_partial_lines_ship_whole_per_stream(tmp_path: Path, elasticsearch: Peer) -> None:
    sp = start(tmp_path, elasticsearch, "mlcri")
    data, out_msgs, err_msgs = stdout_stderr_file()
    (sp.logs_dir / "a.log").write_bytes(data)
    # A second pod on the same node, with the same trace shapes, written at the same time.
    (sp.logs_dir / "b.log").write_bytes(interleave(cri([*traces.GO_PANIC.split("\n")], "stderr"),
                                                   cri([*traces.SPRING_BOOT.split("\n"), "after"], "stdout")))
    sp.start()
    try:
        expected = len(out_msgs) + len(err_msgs) + 3
        wait_for(lambda: count(elasticsearch.url, sp.data_stream) >= expected, 60, f"{expected} documents", sp.log_tail)
        docs = all_docs(elasticsearch.url, sp.data_stream, ("message", "log", "error", "tags"))
        assert len(docs) == expected
        got = by_stream(docs)
        assert got["a.log/stdout"] == out_msgs
        assert got["a.log/stderr"] == err_msgs
        assert got["b.log/stderr"] == [traces.GO_PANIC]
        assert got["b.log/stdout"] == [traces.SPRING_BOOT, "after"]
        java = [d for d in docs if d.get("tags") == ["java_exception"]]
        assert {d["error"]["type"] for d in java} == {
            "org.springframework.beans.factory.BeanCreationException", "org.apache.dubbo.rpc.RpcException",
            "org.postgresql.util.PSQLException"}
        assert len({d["_id"] for d in docs}) == len(docs)
    finally:
        sp.stop()


def test_a_trace_held_open_at_sigkill_ships_whole_once_after_restart(tmp_path: Path, elasticsearch: Peer) -> None:
    # A long flush timeout keeps the half-written trace open until the kill.
    sp = start(tmp_path, elasticsearch, "mlkill", flush_seconds=10.0)
    path = sp.logs_dir / "a.log"
    trace = traces.SPRING_CAUSED_BY.split("\n")
    path.write_bytes(b"".join(cri([INFO, "first", *trace[:6]], "stdout")))
    sp.start()
    try:
        wait_for(lambda: count(elasticsearch.url, sp.data_stream) >= 2, 60, "the lines before the trace", sp.log_tail)
    finally:
        sp.kill()  # the trace's first lines are held, unshipped: the checkpoint must not have passed them
    with path.open("ab") as f:
        f.write(b"".join(cri([*trace[6:], "after"], "stdout")))
    sp.start()
    try:
        wait_for(lambda: count(elasticsearch.url, sp.data_stream) >= 4, 60, "4 documents", sp.log_tail)
        # One file, so its offsets order the documents (index order depends on which bulk landed first).
        docs = sorted(all_docs(elasticsearch.url, sp.data_stream), key=lambda d: d["log"]["offset"])
        assert [d["message"] for d in docs] == [INFO, "first", traces.SPRING_CAUSED_BY, "after"]
        assert len({d["_id"] for d in docs}) == 4
    finally:
        sp.stop()


def test_traces_of_eight_languages_ship_whole(tmp_path: Path, elasticsearch: Peer) -> None:
    # One trace per language from the public suites' cases: half on stdout between INFO lines, half on stderr,
    # the two streams interleaved and every line split into P parts of 40 bytes.
    from tests.unit.logs.multiline_cases import LANGUAGES, load_cases

    cases = {c.language: c.text for c in reversed(load_cases())}
    out_traces = [cases[lang] for lang in LANGUAGES[::2]]
    err_traces = [cases[lang] for lang in LANGUAGES[1::2]]
    stdout = [line for t in out_traces for line in [INFO, *t.split("\n")]] + [INFO]
    stderr = [line for t in err_traces for line in t.split("\n")]
    sp = start(tmp_path, elasticsearch, "ml8")
    (sp.logs_dir / "a.log").write_bytes(interleave(cri(stdout, "stdout", split=40), cri(stderr, "stderr", split=40)))
    sp.start()
    try:
        expected = 2 * len(out_traces) + 1 + len(err_traces)
        wait_for(lambda: count(elasticsearch.url, sp.data_stream) >= expected, 60, f"{expected} documents", sp.log_tail)
        docs = all_docs(elasticsearch.url, sp.data_stream, ("message", "log"))
        assert len(docs) == expected
        got = by_stream(docs)
        assert got["a.log/stdout"] == [m for t in out_traces for m in (INFO, t)] + [INFO]
        assert got["a.log/stderr"] == err_traces
    finally:
        sp.stop()


def test_a_line_no_trace_can_continue_ships_without_waiting_for_the_quiet_timeout(tmp_path: Path,
                                                                                   elasticsearch: Peer) -> None:
    # A quiet timeout far longer than the wait: only lines the merger lets go at once can arrive in time. The
    # error record is the exception: a trace may still attach to it, so it waits.
    sp = start(tmp_path, elasticsearch, "mlquiet", flush_seconds=600.0)
    error = "2024-05-14 09:12:46.000 ERROR 1 --- [main] c.e.Orders : payment failed"
    (sp.logs_dir / "a.log").write_bytes(b"".join(cri([INFO, "last line before a quiet hour"], "stdout")
                                                 + cri([error], "stderr")))
    sp.start()
    try:
        wait_for(lambda: count(elasticsearch.url, sp.data_stream) >= 2, 60, "2 documents", sp.log_tail)
        docs = all_docs(elasticsearch.url, sp.data_stream, ("message", "log"))
        assert sorted(d["message"] for d in docs) == sorted([INFO, "last line before a quiet hour"])
    finally:
        sp.stop()
