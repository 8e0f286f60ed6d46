"""Decoders: CRI partial lines, docker splits, plain, auto-detection, truncation and undecodable lines."""

from hypothesis import given, settings
from hypothesis import strategies as st

from observe.logs.decode import CriDecoder, DockerDecoder, PlainDecoder, detect
from observe.logs.event import FLAG_TRUNCATED, FLAG_UNDECODABLE, Event

NOW = b"2030-01-01T00:00:00.000000Z"


def cri(lines: list[bytes], max_event: int = 1024) -> tuple[list[Event], CriDecoder]:
    dec = CriDecoder(max_event)
    out: list[Event] = []
    dec.decode(lines, 0, NOW, out)
    return out, dec


def test_cri_full_line() -> None:
    out, dec = cri([b"2024-05-01T12:34:56.123456789Z stdout F hello world"])
    assert out == [(0, b"2024-05-01T12:34:56.123456789Z", b"stdout", b"hello world", 0, None)]
    assert dec.pending_offset() is None


def test_cri_empty_message_with_and_without_space() -> None:
    out, _ = cri([b"2024-05-01T12:34:56Z stdout F ", b"2024-05-01T12:34:56Z stdout F"])
    assert [r[3] for r in out] == [b"", b""]
    assert out[1][0] == len(b"2024-05-01T12:34:56Z stdout F ") + 1


def test_cri_partials_join_per_stream_and_hold_the_offset() -> None:
    lines = [b"2024-01-01T00:00:00Z stdout P ab", b"2024-01-01T00:00:01Z stderr F err", b"2024-01-01T00:00:02Z stdout P cd"]
    out, dec = cri(lines)
    assert [r[3] for r in out] == [b"err"]
    assert dec.pending_offset() == 0
    more: list[Event] = []
    off = sum(len(x) + 1 for x in lines)
    dec.decode([b"2024-01-01T00:00:03Z stdout F ef"], off, NOW, more)
    assert more == [(0, b"2024-01-01T00:00:00Z", b"stdout", b"abcdef", 0, None)]
    assert dec.pending_offset() is None


def test_cri_partial_past_max_is_truncated_once_and_rest_skipped() -> None:
    lines = [b"2024-01-01T00:00:00Z stdout P " + b"a" * 6] * 4 + [b"2024-01-01T00:00:00Z stdout F end"]
    out, dec = cri(lines, max_event=10)
    assert len(out) == 1
    assert out[0][3] == b"a" * 10 and out[0][4] == FLAG_TRUNCATED
    assert dec.skipped_bytes == 24 + 3 - 10
    assert dec.pending_offset() is None


def test_cri_truncation_keeps_checkpoint_at_event_start_until_final_line() -> None:
    out, dec = cri([b"x" * 0 + b"2024-01-01T00:00:00Z stdout P " + b"a" * 20], max_event=10)
    assert len(out) == 1 and out[0][4] & FLAG_TRUNCATED
    assert dec.pending_offset() == 0


def test_cri_garbage_is_shipped_flagged_undecodable() -> None:
    out, _ = cri([b'not cri at all', b'2024-01-01T00:00:00Z stdin F x', b'2024"01 stdout F x'])
    assert all(r[4] == FLAG_UNDECODABLE and r[1] == NOW for r in out)
    assert [r[3] for r in out] == [b"not cri at all", b"2024-01-01T00:00:00Z stdin F x", b'2024"01 stdout F x']


def test_cri_flush_emits_held_partial() -> None:
    _, dec = cri([b"2024-01-01T00:00:00Z stdout P abc"])
    out: list[Event] = []
    dec.flush(out)
    assert out == [(0, b"2024-01-01T00:00:00Z", b"stdout", b"abc", 0, None)]


def test_docker_rejoins_splits() -> None:
    dec = DockerDecoder(1024)
    out: list[Event] = []
    dec.decode([b'{"log":"par","stream":"stdout","time":"2024-01-01T00:00:00Z"}',
                b'{"log":"tial\\n","stream":"stdout","time":"2024-01-01T00:00:01Z"}',
                b'{"log":"x\\n","stream":"bogus","time":"2024-01-01T00:00:01Z"}'], 0, NOW, out)
    assert out[0] == (0, b"2024-01-01T00:00:00Z", b"stdout", b"partial", 0, None)
    assert out[1][4] == FLAG_UNDECODABLE


def test_plain_uses_read_time() -> None:
    out: list[Event] = []
    PlainDecoder(1024).decode([b"a", b"bc"], 10, NOW, out)
    assert out == [(10, NOW, b"", b"a", 0, None), (12, NOW, b"", b"bc", 0, None)]


def test_detect() -> None:
    assert detect(b"2024-01-01T00:00:00.1Z stderr F x") == "cri"
    assert detect(b'{"log":"x\\n","stream":"stdout","time":"2024-01-01T00:00:00Z"}') == "docker"
    assert detect(b'{"level":"info"}') == "plain"
    assert detect(b"hello") == "plain"


_CRI_LINE = st.builds(
    lambda ts, stream, tag, msg: b" ".join(p for p in (ts, stream, tag, msg) if p is not None),
    st.sampled_from([b"2024-01-01T00:00:00.5Z", b"2024-01-01T00:00:01+02:00", b"yesterday", b""]),
    st.sampled_from([b"stdout", b"stderr", b"stdin"]),
    st.sampled_from([b"F", b"P", b"X", b"F:x", None]),
    st.one_of(st.none(), st.binary(max_size=40), st.just(b"x" * 1100)))


@given(lines=st.lists(_CRI_LINE, max_size=12), flags=st.sampled_from([0, 4]))
@settings(max_examples=300, deadline=None, derandomize=True, database=None)
def test_the_inline_common_line_decodes_as_decode_line_does(lines: list[bytes], flags: int) -> None:
    """CriDecoder.decode takes the common whole line inline; record for record it must equal decode_line's."""
    inline: list[Event] = []
    fast = CriDecoder(1024)
    fast.decode(lines, 5, b"NOW", inline, flags)
    one_by_one: list[Event] = []
    slow = CriDecoder(1024)
    offset = 5
    for line in lines:
        slow.decode_line(line, offset, b"NOW", one_by_one, flags)
        offset += len(line) + 1
    assert inline == one_by_one
    assert (fast.skipped_bytes, sorted(fast.partial)) == (slow.skipped_bytes, sorted(slow.partial))
