"""The C fast path (observe/logs/cri_native.c) writes exactly the items of the pure-Python reference, ship_cri.

Fuzzed chunks mix the lines the C loop takes with every kind it must hand back: partial lines (and the lines after
them while one is open), other streams and tags, timestamps with an offset or none, overlong messages, invalid
UTF-8, and messages full of what JSON escapes. Both paths start from a fresh decoder; their items and the decoder
state they leave behind must be equal.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from observe.logs import cri_native
from observe.logs.decode import CriDecoder
from observe.logs.encode import Encoder
from observe.logs.fastpath import ship_cri
from observe.logs.multiline.at_frames import is_frame
from observe.logs.plan import Settings, path_plan
from tests.unit.logs import traces
from tests.unit.logs.chunked import process_in_chunks, records_of

NOW = b"2024-05-01T00:00:00.000000000Z"
LIMIT = 64

pytestmark = pytest.mark.skipif(os.environ.get("OBSERVE_NATIVE") == "off",
                                reason="OBSERVE_NATIVE=off asks for the pure-Python path")


def test_the_library_is_built_and_loaded() -> None:
    # `make test` builds it (make native): a test run without it would test only the reference.
    assert cri_native.AVAILABLE, f"{cri_native.LIBRARY} is missing: run `make native`"


_LETTERS = b"abcdefghijklmnopqrstuvwx"
# One byte that needs a closer look (a C0 control, `"`, `\\`, DEL, a byte of a multi-byte or invalid sequence) at
# any position of an otherwise plain message: the C loop reads eight bytes at a time and must notice it in any lane.
_ONE_ODD_BYTE = st.builds(lambda n, pos, odd: _LETTERS[:n][:pos] + odd + _LETTERS[:n][pos:], st.integers(0, 24),
                          st.integers(0, 24),
                          st.one_of(st.integers(0, 0x1F).filter(lambda c: c != 10).map(lambda c: bytes([c])),
                                    st.sampled_from([b'"', b"\\", b"\x7f", b"\xc3\xa9", b"\xe2\x80\xa8"]),
                                    st.integers(0x80, 0xFF).map(lambda c: bytes([c]))))
_MESSAGE = st.one_of(
    _ONE_ODD_BYTE,
    st.text(max_size=30).map(lambda t: t.replace("\n", " ").encode()),  # any valid UTF-8, controls and quotes included
    st.binary(max_size=30).map(lambda b: b.replace(b"\n", b" ")),  # mostly invalid UTF-8
    # Every ASCII byte but the newline, within LIMIT: each escape once.
    st.sampled_from([bytes(c for c in range(64) if c != 10), bytes(range(64, 128))]),
    st.sampled_from([b'a "quoted" \\ path\t\x01\x1f\x7f', "é \u2028 \U0001F600".encode(), b"\xed\xa0\x80",
                     b"\xc0\xaf", b"\xf4\x90\x80\x80", b"\xe0\x80\xaf", b"", b"x" * LIMIT, b"x" * (LIMIT + 1)]),
)
_TIMESTAMP = st.sampled_from([b"2024-01-01T00:00:00.123456789Z", b"2024-01-01T00:00:00Z", b"2024-01-01T00:00:01+02:00",
                              b"2024-01-01T00:00:00z", b"1234567890", b"123456789Z", b"x024-01-01T00:00:00Z", b""])
_ANY_LINE = st.builds(
    lambda ts, stream, tag, msg: b" ".join(p for p in (ts, stream, tag, msg) if p is not None),
    _TIMESTAMP, st.sampled_from([b"stdout", b"stderr", b"stdin", b""]),
    st.sampled_from([b"F", b"F", b"F", b"P", b"X", b"F:x", b"", None]), st.one_of(st.none(), _MESSAGE))
# Most lines of a real file are whole lines the C loop takes, unless their message stops it.
_WHOLE_LINE = st.builds(lambda ts, stream, msg: b"%s %s F %s" % (ts, stream, msg),
                        st.sampled_from([b"2024-01-01T00:00:00.123456789Z", b"2024-01-01T00:00:00Z"]),
                        st.sampled_from([b"stdout", b"stderr"]), _MESSAGE)
_CRI_LINE = st.one_of(_WHOLE_LINE, _WHOLE_LINE, _ANY_LINE)


def _encoder() -> Encoder:
    plan = path_plan("/var/log/pods/ns_p%od_uid/c/0.log", "/real", host_name="h%s", node_name="n", fmt="cri")
    return Encoder(plan, "k%1", "logs-a%b-default")


def _both_paths(lines: list[bytes], offset: int = 0, limit: int = LIMIT) -> tuple[list[bytes], list[bytes]]:
    """The items of `lines` by the Python reference and by the C path, each from a fresh decoder."""
    reference: list[bytes] = []
    ship_cri(lines, offset, NOW, CriDecoder(limit), _encoder(), reference)
    native: list[bytes] = []
    buf = b"\n".join(lines) + b"\n"
    cri_native.ship_chunk(buf, len(buf), offset, NOW, CriDecoder(limit), _encoder(), native)
    return reference, native


@given(lines=st.lists(_CRI_LINE, min_size=1, max_size=14), offset=st.integers(0, 2**40))
@settings(max_examples=400, deadline=None, derandomize=True, database=None)
def test_the_c_loop_writes_the_references_items(lines: list[bytes], offset: int) -> None:
    reference: list[bytes] = []
    ref_decoder = CriDecoder(LIMIT)
    ship_cri(lines, offset, NOW, ref_decoder, _encoder(), reference)
    native: list[bytes] = []
    decoder = CriDecoder(LIMIT)
    buf = b"\n".join(lines) + b"\n"
    assert cri_native.ship_chunk(buf + b"2024-01-01T00:00:00Z stdout F not yet whole", len(buf), offset, NOW,
                                 decoder, _encoder(), native) == len(lines)
    assert native == reference
    assert (decoder.partial.keys(), decoder.skipped_bytes) == (ref_decoder.partial.keys(), ref_decoder.skipped_bytes)
    assert [_state(p) for p in decoder.partial.values()] == [_state(p) for p in ref_decoder.partial.values()]


def _state(partial: object) -> tuple[object, ...]:
    return tuple(getattr(partial, name) for name in ("emitted", "offset", "parts", "size", "timestamp"))


def test_a_long_chunk_of_common_lines_is_the_same_and_valid_json() -> None:
    lines = [b"2024-01-01T00:00:00.%09dZ std%s F message %d \"q\" \\ \x01 \xc3\xa9" % (i, b"out" if i % 3 else b"err", i)
             for i in range(5000)]
    reference, native = _both_paths(lines, 7, 1024)
    assert native == reference
    buf = b"\n".join(lines) + b"\n"
    action, doc = native[4999].split(b"\n")[:2]
    assert orjson.loads(action)["create"]["_id"] == "k%1-" + format(7 + len(buf) - len(lines[-1]) - 1, "x")
    assert orjson.loads(doc)["message"] == 'message 4999 "q" \\ \x01 é'


def test_every_byte_that_needs_a_closer_look_is_seen_in_every_lane() -> None:
    # The C loop skips or copies eight message bytes at a time: each byte value that must stop it (escape, multi-byte
    # or invalid UTF-8) at each of sixteen positions, in one chunk, against the reference.
    odd = [bytes([c]) for c in range(256) if c == 0x7F or (c < 0x20 and c != 10) or c in b'"\\' or c >= 0x80]
    odd += [b"\xc3\xa9", b"\xe2\x80\xa8", b"\xf0\x9f\x98\x80", b"\xed\xa0\x80", b"\xc0\xaf"]
    lines = [b"2024-01-01T00:00:00Z stdout F " + _LETTERS[:pos] + o + _LETTERS[pos:] for o in odd for pos in range(16)]
    reference, native = _both_paths(lines)
    assert native == reference


def test_a_chunk_whose_items_outgrow_the_buffer_is_written_in_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    # Short lines (items much longer than their lines) with messages of controls (six bytes each when escaped).
    monkeypatch.setattr(cri_native, "_scratch", cri_native._Scratch())
    lines = [b"2024-01-01T00:00:00Z stdout F %d\x01\x02\x03" % i for i in range(20000)]
    reference, native = _both_paths(lines)
    assert native == reference
    assert sum(map(len, native)) > 4 * cri_native.ROOM
    assert len(cri_native._scratch.room) == cri_native.ROOM  # parts, not a larger buffer


def test_an_item_larger_than_the_buffer_grows_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cri_native, "_scratch", cri_native._Scratch())
    lines = [b"2024-01-01T00:00:00Z stdout F short", b"2024-01-01T00:00:00Z stderr F " + b"\x01" * cri_native.ROOM]
    reference, native = _both_paths(lines, limit=1 << 20)
    assert native == reference
    assert len(cri_native._scratch.room) > cri_native.ROOM


_PATTERNS = [b"Exception", b"SIG", b"):", b"evel", b"Traceback (most recent call last):", b"x", b"q"]
_PIECES = st.sampled_from([*_PATTERNS, *(p[:-1] for p in _PATTERNS), *(p[1:] for p in _PATTERNS), b"\xc3\xa9", b"\0",
                           b" ", b"\t", b"\x0b", b"\x1c", b"\xc2\xa0", b"at ", b"at", b"eval at ", b" {", b"{"])


@given(st.lists(st.lists(st.one_of(_PIECES, st.binary(max_size=5)), max_size=5).map(b"".join), max_size=20))
@settings(max_examples=600, deadline=None, derandomize=True, database=None)
def test_classify_finds_exactly_the_messages_without_a_pattern_and_the_at_frames(messages: list[bytes]) -> None:
    got = cri_native.classify(messages, b"".join(p + b"\0" for p in _PATTERNS))
    assert got is not None
    assert [c & cri_native.UNTRIGGERED for c in got] == [int(not any(p in m for p in _PATTERNS)) for m in messages]
    assert [bool(c & cri_native.AT_FRAME) for c in got] == [is_frame(m) for m in messages]
    assert all(c < 4 for c in got)


def test_classify_with_a_pattern_at_either_end_of_a_message_and_one_byte_patterns() -> None:
    patterns = b"ab\0z\0"
    messages = [b"ab", b"xab", b"abx", b"a", b"b", b"z", b"xz", b"zx", b"", b"ba", b"xaxb"]
    got = cri_native.classify(messages, patterns)
    assert got is not None
    assert [c & 1 for c in got] == [0, 0, 0, 1, 1, 0, 0, 0, 1, 1, 1]


@pytest.mark.parametrize("message", [b"\tat x", b" at x", b" \x0b\tat x", b"  eval at x", b"\tat ", b"\tat", b"at x",
                                     b"  at x {", b"  at x {}", b"\x0bat x", b" \x1cat x", b" \xc2\xa0at x", b" ", b""])
def test_classify_finds_the_frames_is_frame_finds(message: bytes) -> None:
    got = cri_native.classify([message], b"Q\0")
    assert got is not None and bool(got[0] & cri_native.AT_FRAME) == is_frame(message)


_RECORD_LINES = [
    *traces.SPRING_CAUSED_BY.split("\n"), *traces.PYTHON.split("\n"), *traces.GO_PANIC.split("\n"),
    "2024-05-14 09:12:45.002  INFO 1 --- [main] c.e.Orders : GET /orders/7 200",
    "2024-05-14 09:12:46.000 ERROR 1 --- [main] c.e.Orders : payment failed", "", "   ", "plain line", "é ü",
]


@given(lines=st.lists(st.tuples(st.sampled_from(_RECORD_LINES), st.sampled_from([b"stdout", b"stderr"])),
                      max_size=60),
       cuts=st.lists(st.integers(0, 60), max_size=4), mode=st.sampled_from(["auto", "java", "python", "go"]),
       parser=st.sampled_from(["none", "json"]))
@settings(max_examples=200, deadline=None, derandomize=True, database=None)
def test_the_pre_check_changes_no_event(lines: list[tuple[str, bytes]], cuts: list[int], mode: str, parser: str) -> None:
    # The processor with the pre-check (lines free of trigger words skip the merger when their stream has no open
    # record) and without it: the same events, chunk by chunk, and the same held-back offset.
    records = records_of(lines)
    settings = Settings(multiline=mode, parser=parser)
    with_check = process_in_chunks(records, cuts, settings)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cri_native, "classify", lambda messages, patterns: None)
        assert process_in_chunks(records, cuts, settings) == with_check


def test_a_library_that_does_not_load_or_is_stale_leaves_the_python_path(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    bogus = tmp_path / "bogus.so"
    bogus.write_bytes(b"not a shared object")
    monkeypatch.setattr(cri_native, "LIBRARY", bogus)
    assert cri_native._load() is None
    # Built from an older cri_native.c, without a function this module needs: the Python path, not a crash.
    source, stale = tmp_path / "old.c", tmp_path / "old.so"
    source.write_text("int observe_cri_items(void) { return 0; }\n")
    subprocess.run([os.environ.get("CC", "cc"), "-shared", "-fPIC", "-o", str(stale), str(source)], check=True)
    monkeypatch.setattr(cri_native, "LIBRARY", stale)
    assert cri_native._load() is None
