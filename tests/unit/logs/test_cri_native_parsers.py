"""The C loop's parsers (cri_native.c: nginx_fields, json_parse and json_tail) write exactly what the Python path
writes for the lines they take: the CRI decoder, NginxParser or JsonParser, and the encoder, which stay the reference.

Generated lines are built from the parts of their format (nginx's combined and ingress-nginx's upstream format; a
JSON object with message, ECS and other keys), each part drawn mostly from values the C loop takes and sometimes from
values it must hand back (IPv6 clients, upstream retries, numbers beyond a long or a float's exact range, JSON
floats, duplicate keys, escapes, non-ASCII and control bytes, missing or extra blanks). Mutated lines put random
text anywhere into a line the C loop takes. Both paths start fresh; their items and flag counts must be equal.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from observe.logs import cri_native
from observe.logs.decode import CriDecoder
from observe.logs.encode import Encoder
from observe.logs.event import Event
from observe.logs.plan import Settings, path_plan
from observe.logs.process import PlanProcessor

NOW = b"2024-05-01T00:00:00.000000000Z"
LIMIT = 4096

pytestmark = pytest.mark.skipif(os.environ.get("OBSERVE_NATIVE") == "off",
                                reason="OBSERVE_NATIVE=off asks for the pure-Python path")


def _encoder(fields: dict[str, object] | None = None) -> Encoder:
    plan = path_plan("/var/log/pods/ns_p%od_uid/c/0.log", "/real", host_name="h%s", node_name="n", fmt="cri")
    if fields is not None:
        plan = type(plan)(path=plan.path, fields=fields)
    return Encoder(plan, "k%1", "logs-a%b-default")


class _Path:
    """One file's decoder, processor and encoder, as the reader holds them."""

    def __init__(self, parser: str, limit: int = LIMIT) -> None:
        self.decoder = CriDecoder(limit)
        self.processor = PlanProcessor(Settings(parser=parser))
        self.encoder = _encoder()
        self.out: list[bytes] = []
        self.slow_lines = 0

    def general(self, lines: list[bytes], offset: int) -> None:
        records: list[Event] = []
        self.decoder.decode(lines, offset, NOW, records)
        self.encoder.encode(self.processor.process(records), self.out)

    def slow(self, line: bytes, offset: int) -> None:
        self.slow_lines += 1
        self.general([line], offset)


def _both_paths(lines: list[bytes], offset: int = 0, parser: str = "nginx", limit: int = LIMIT) -> tuple[_Path, _Path]:
    reference, native = _Path(parser, limit), _Path(parser, limit)
    reference.general(lines, offset)
    buf = b"\n".join(lines) + b"\n"
    assert native.processor.native_parser() == parser and parser in native.encoder.inline_parsers
    taken = cri_native.ship_chunk(buf, len(buf), offset, NOW, native.decoder, native.encoder, native.out, parser,
                                  native.slow)
    assert taken == len(lines)
    return reference, native


def _line(addr: str, user: str, time: str, request: str, status: str, size: str, referer: str, ua: str,
          ingress: str | None, trailing: str) -> str:
    line = f'{addr} - {user} [{time}] "{request}" {status} {size} "{referer}" "{ua}"'
    return line + (f" {ingress}" if ingress is not None else "") + trailing


# Each part of a line: values the C loop takes, and values that make it hand the line back (or that the Python parser
# flags). A line draws each part from the second list with a small chance, so most lines are taken and each odd value
# still comes up alone.
_PARTS: dict[str, tuple[list[str], list[str]]] = {
    "addr": (["10.244.1.7", "0.0.0.0", "255.255.255.255", "256.1.1.1", "010.1.1.1", "1.2.3.04", "1.2.3", "1.2.3.4.5",
              "1..2.3", "shop.example.com", "-", "1.2.3.4%x", "12345.1.1.1", "1.2.3.4.", "::1", "2001:db8::7", "::",
              "1::2::3", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7::", "12345::", ":1::", "1:2", "FE80::a"],
             ["fe80::1%eth0", "::ffff:10.0.0.1", "1.2.3.4:80", "\u0661.2.3.4", "", "a b"]),
    "user": (["-", "alice", 'a"b', "--"], ["é", ""]),
    "time": (["01/May/2024:12:34:56 +0000", "x", "a [b", 'a"b'], ["", "a]b"]),
    "request": ([
        "GET / HTTP/1.1", "GET /api/v1/items?id=7 HTTP/1.1", "POST /x? HTTP/2.0", "GET /a?b?c HTTP/1.0", "GET /",
        'GET /\\"q\\" HTTP/1.1', "GET /\\\\ HTTP/1.1", 'GET /\\\\\\" HTTP/1.1', "GET /\\n HTTP/1.1",
        "PUT /p?q=1&r=%22 HTTP/1.1", "GET / HTTP/..", "OPTIONS * HTTP/1.1", 'GET /\\"\\\\ HTTP/1.1'], [
        "DELETE /x HTTP/", "GET / HTTP/1.1x", "GET / HTTP/1.1 ", "GET  /", "GET /a b", "get / HTTP/1.1", "", "-",
        "\\x16\\x03\\x01\\x02\\x00", "GET /é HTTP/1.1", "GET /\t HTTP/1.1", "GET /\\"]),
    "status": (["200", "502", "007"], ["20", "2000", "abc"]),
    "size": (["0", "512", "-", "00512", "9" * 17, "9" * 18], ["9" * 19, "9223372036854775807", "9223372036854775808",
                                                              "-5", ""]),
    "referer": (["-", "", "https://shop.example.com/", 'a\\"b', "a\\\\", 'a\\\\\\"b', "--", "x\\ny", "[a]"],
                ["a\\", "é", "\x01"]),
    "ua": (["-", "", "Mozilla/5.0 (X11; Linux x86_64)", 'a\\"b', "a\\\\", "--"], ["a\\", "é", "\x7f"]),
    "ingress": (["yes", "yes", "no"], []),
    "req_len": (["312", "-", "0", "9" * 18], ["9" * 19, "", "1.5"]),
    "req_time": (["0.004", "-", "0", "0.0005", "0.0000005", "123456789.123456", "999999999.999999", "2.5",
                  "0.000000001", "123456.123456789", "0.123456789"],
                 ["1.", ".5", "1.2.3", "1234567890.1", "0.1234567891", "", "1e3", "9" * 12, "1234567.123456789",
                  "0" * 16, "41284065.533740681", "924581297.83101222"]),  # the last two: N / 10**k is not float()
    "up_name": (["shop-web-8080", "", "-", "a b", "a[b"], ["a]b"]),
    "up_alt": (["", "-", "shop-web-8443"], ["a]b"]),
    "up_addr": (["10.244.2.7:8080", "-", "[x]", "a, b", "a,b", "-, b", "a,, b", "x, ,y"], [", b", "é", ""]),
    "up_len": (["512", "-", "0, 512"], ["a , b", "1, 2, 3,", "5,"]),
    "up_time": (["0.004", "-", "0.001, 0.003"], [""]),
    "up_status": (["200", "-", "502", "502, 200", "-, -"], ["2 00"]),
    "req_id": (["6f1d8c1bb7f0a5c1e2d3f4a5b6c7d8e9", "-", "a\\b", 'a"b'], ["", "a b"]),
    "trailing": (["", " ", "  "], [" x", "\t", "\x1c", "\xa0"]),
    "timestamp": (["2024-01-01T00:00:00.123456789Z", "2024-01-01T00:00:00Z"], ["2024-01-01T00:00:01+02:00"]),
    "stream": (["stdout", "stderr"], []),
    "tag": (["F"], ["P"]),
}


def _random_lines(n: int, seed: int, odd: float = 0.03) -> list[bytes]:
    rng = random.Random(seed)

    def part(name: str) -> str:
        taken, odd_values = _PARTS[name]
        return rng.choice(odd_values if odd_values and rng.random() < odd else taken)

    lines = []
    for _ in range(n):
        line = (f'{part("addr")} - {part("user")} [{part("time")}] "{part("request")}" {part("status")} {part("size")} '
                f'"{part("referer")}" "{part("ua")}"')
        if part("ingress") == "yes":
            line += (f' {part("req_len")} {part("req_time")} [{part("up_name")}] [{part("up_alt")}] {part("up_addr")} '
                     f'{part("up_len")} {part("up_time")} {part("up_status")} {part("req_id")}')
        line += part("trailing")
        lines.append(f'{part("timestamp")} {part("stream")} {part("tag")} {line}'.encode())
    return lines


# A line the C loop would take, with a byte or a character from anywhere put in at any place.
_CANONICAL = ('10.244.1.7 - - [01/May/2024:12:34:56 +0000] "GET /api/v1/items?id=7 HTTP/1.1" 200 512 '
              '"https://shop.example.com/" "Mozilla/5.0 (X11; Linux x86_64)" 312 0.004 [shop-web-8080] [] '
              "10.244.2.7:8080 512 0.004 200 6f1d8c1bb7f0a5c1e2d3f4a5b6c7d8e9")


def _mutated(line: str, text: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """`line` with `text` put in at any place, over up to three of its characters."""
    return st.builds(lambda at, put, cut: line[:at] + put + line[at + cut:], st.integers(0, len(line)), text,
                     st.integers(0, 3))


def _assert_same_items(messages: list[str], offset: int, parser: str) -> None:
    lines = [b"2024-01-01T00:00:00Z stdout F " + m.encode("utf-8", "surrogateescape") for m in messages]
    reference, native = _both_paths(lines, offset, parser)
    assert native.out == reference.out
    assert native.encoder.flagged == reference.encoder.flagged


@given(messages=st.lists(_mutated(_CANONICAL, st.text(max_size=3).map(lambda t: t.replace("\n", ""))), min_size=1,
                         max_size=6), offset=st.integers(0, 2**40))
@example(messages=[_CANONICAL], offset=0)
@settings(max_examples=800, deadline=None, derandomize=True, database=None)
def test_the_c_parser_on_mutated_lines(messages: list[str], offset: int) -> None:
    _assert_same_items(messages, offset, "nginx")


def test_the_c_loop_takes_the_common_lines_itself() -> None:
    # A test that the C parser runs at all: every common line taken in C, none handed to Python.
    lines = [b"2024-01-01T00:00:00Z stdout F " + _CANONICAL.replace("id=7", f"id={i}").encode() for i in range(2000)]
    lines += [b'2024-01-01T00:00:00Z stderr F 203.0.113.9 - alice [14/May/2024:09:15:31 +0000] "GET /s.js?v=3 HTTP/1.1" '
              b'304 0 "-" "curl/8.5.0"'] * 10
    reference, native = _both_paths(lines)
    assert native.out == reference.out
    assert native.slow_lines == 0
    doc = orjson.loads(native.out[0].split(b"\n")[1])
    assert doc["http"]["request"] == {"method": "GET", "referrer": "https://shop.example.com/", "bytes": 312,
                                      "id": "6f1d8c1bb7f0a5c1e2d3f4a5b6c7d8e9"}
    assert doc["event"] == {"duration": 4_000_000}
    assert doc["nginx"]["ingress_controller"]["upstream"] == {
        "name": "shop-web-8080", "address": ["10.244.2.7:8080"],
        "response": {"length": ["512"], "time": ["0.004"], "status_code": ["200"]}}


@pytest.mark.parametrize("seconds", ["0.000000001", "0.000000003", "0.123456789", "0.0000005", "2.5", "0.1", "0.3",
                                     "123456.123456789", "123456789.123456", "999999999.999999", "0.000001", "1",
                                     "0.999999999"])
def test_request_times_round_as_python_does(seconds: str) -> None:
    # The one IEEE division that float() rounds like, then ties to even: against the Python parser's nanoseconds.
    message = _CANONICAL.replace(" 312 0.004 ", f" 312 {seconds} ")
    reference, native = _both_paths([b"2024-01-01T00:00:00Z stdout F " + message.encode()])
    assert native.slow_lines == 0 and native.out == reference.out
    assert orjson.loads(native.out[0].split(b"\n")[1])["event"]["duration"] == round(float(seconds) * 1e9)


def test_lines_the_c_parser_hands_back_are_parsed_or_flagged_by_python() -> None:
    lines = [b"2024-01-01T00:00:00Z stdout F " + m.encode() for m in (
        _CANONICAL.replace("10.244.1.7", "fe80::1%eth0"),  # an IPv6 scope: ipaddress decides
        _CANONICAL.replace("10.244.1.7", "::ffff:10.244.1.7"),  # an embedded IPv4 address: the same
        _CANONICAL.replace("10.244.2.7:8080 512", ", 512"),  # a comma alone: the regex's own reading decides
        _CANONICAL.replace(" 312 0.004 ", " 312 1.2.3 "),  # flagged parse_failed
        _CANONICAL.replace(" 312 0.004 ", " 312 41284065.533740681 "),  # 17 digits: float() rounds, not a quotient
        "2024/05/14 09:16:05 [error] 31#31: *1 connect() failed",  # not an access line: flagged
    )]
    reference, native = _both_paths(lines)
    assert native.out == reference.out
    assert native.slow_lines == 6
    assert native.encoder.flagged == {"parse_failed": 2}


def test_ipv6_clients_and_upstream_retries_are_taken_by_the_c_loop() -> None:
    lines = [b"2024-01-01T00:00:00Z stdout F " + m.encode() for m in (
        _CANONICAL.replace("10.244.1.7", "2001:db8::7"),
        _CANONICAL.replace("10.244.2.7:8080 512 0.004 200",
                           "10.244.2.7:8080, 10.244.2.8:8080 0, 512 0.001, 0.003 502, 200"),
    )]
    reference, native = _both_paths(lines)
    assert native.out == reference.out and native.slow_lines == 0
    ipv6, retried = (orjson.loads(item.split(b"\n")[1]) for item in native.out)
    assert ipv6["source"] == {"ip": "2001:db8::7"}
    assert retried["nginx"]["ingress_controller"]["upstream"] == {
        "name": "shop-web-8080", "address": ["10.244.2.7:8080", "10.244.2.8:8080"],
        "response": {"length": ["0", "512"], "time": ["0.001", "0.003"], "status_code": ["502", "200"]}}


@pytest.mark.parametrize("seed", range(4))
def test_client_addresses_are_ips_exactly_when_ipaddress_says_so(seed: int) -> None:
    # Random texts of hex digits, colons and dots (and a few others) as the client address: the C loop's IPv4 and
    # IPv6 checks against ipaddress.ip_address, through the parser's source.ip / source.address.
    rng = random.Random(seed)
    pieces = ["", "0", "1", "ff", "FFFF", "12345", "abcd", "g", ":", "::", ".", "1.2.3.4", "%", "00", "255"]
    hextets = ["", "", "0", "1", "abcd", "FFFF", "12345", "00000", "0db8"]
    addrs = []
    for _ in range(3000):
        if rng.random() < 0.7:  # colon-separated groups, around the eight an IPv6 address has
            text = ":".join(rng.choice(hextets) for _ in range(rng.randint(1, 11)))
        else:
            text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 12)))
        addrs.append(text or "::")
    lines = [b"2024-01-01T00:00:00Z stdout F " + _CANONICAL.replace("10.244.1.7", a, 1).encode() for a in addrs]
    reference, native = _both_paths(lines)
    assert native.out == reference.out
    assert native.slow_lines < len(lines) // 2


def test_a_plan_with_a_root_of_the_parsers_keeps_the_python_encoder() -> None:
    # The C loop writes the parser's fields after the plan's; where they share a root, only deep_merge knows the
    # document, so the reader does not ask the C loop.
    assert _encoder({"event": {"dataset": "nginx.access"}}).inline_parsers == {"json"}
    assert _encoder({"kubernetes": {"namespace": "shop"}, "container": {"name": "web"}}).inline_parsers == {
        "nginx", "json"}


# The parts of a JSON line, as _PARTS above: each member is left out, or given a value the C loop takes, or (rarely)
# one that makes it hand the line back: a float, a long integer, an escaped key, a message with a newline, a level
# that str.lower() would change beyond ASCII.
_VALUES = ['"a"', '""', "7", "-12", "0", "true", "false", "null", '"\\u00e9\\/\\"\\\\\\t\\u0001"', '"é \u2028"',
           '[1, "x", {"k": [null]}]', '{"a": {"b": "c"}, "d": []}', '"\\u003cb\\u003e"', '"x\\u0000y"', "[]", "{}",
           "999999999999999999", '"\\u00C9"', '"\\u0416 \\u20ac"', "-999999999999999999",
           '[1,\t{"k" :\r2 }\t]', "1.5", "0.004", "-12.25", "0.0", "-0.0", "-0.5", "100.0", "0.0001", "0.0005",
           "123456789.123456", "[0.25, -3.0]"]
_ODD_VALUES = ["1.50", "1e3", "1.5E3", "0.00001", "0.000001", "0.0000015", "1234567890123456.5", "0.1234567890123456",
               "123456789012345.0", "9007199254740993.0", "0.12345678901234567", "1.00000000000000001",
               "1.", ".5", "-0", "01", "9999999999999999999", "-9999999999999999999", "99999999999999999999",
               '"\\ud83d\\ude00"', '"\\ud800"', '"\\udc00"', '"a\x01"',
               '"\\x"', "tru", "[1,]", '{"a":1,"a":2}', '"unterminated', "NaN", '{"\\u0061":1}']
_MEMBER_KEYS = ["msg", "message", "log.message", "level", "lvl", "severity", "loglevel", "log.level", "levelname",
                "logger", "logger_name", "log.logger", "loggerName", "trace_id", "traceId", "trace.id", "traceid",
                "dd.trace_id", "span_id", "spanId", "span.id", "spanid", "dd.span_id", "stack_trace", "stacktrace",
                "stack", "exc_info", "error.type", "exception_class", "exc_type", "ts", "user", "status", "json", "log",
                "é", "a b", "", "\\u006dsg", 'a\\"b']
_LEVELS = ['"INFO"', '"Warn"', '"error"', "30", '"DEBUG "']
_ODD_LEVELS = ['"\\u0049NFO"', '"ÉRROR"', '"İ"']
_MESSAGES = ['"order 7 placed"', '"a \\"quoted\\" one"', '""', '"é"', "7"]
# Messages with a newline are traces to Python's processor (error fields): Java's, with \n and with \u000a.
_ODD_MESSAGES = ['"java.lang.IllegalStateException: boom\\n\\tat a.b(C.java:1)"',
                 '"java.lang.IllegalStateException: boom\\u000a\\tat a.b(C.java:1)"']


def _random_json_lines(n: int, seed: int, odd: float = 0.02) -> list[bytes]:
    rng = random.Random(seed)

    def value(taken: list[str], odd_values: list[str]) -> str:
        return rng.choice(odd_values if rng.random() < odd else taken)

    lines = []
    for _ in range(n):
        keys = rng.sample(_MEMBER_KEYS, rng.randint(0, 9))
        members = []
        for key in keys:
            if key in ("msg", "message", "log.message"):
                text = value(_MESSAGES, _ODD_MESSAGES)
            elif key in ("level", "lvl", "severity", "loglevel", "log.level", "levelname"):
                text = value(_LEVELS, _ODD_LEVELS)
            else:
                text = value(_VALUES, _ODD_VALUES)
            members.append(f'"{key}"' + rng.choice([":", ": ", " : ", "\t:\r "]) + text)
        body = "{" + rng.choice([",", ", ", "\r,\t"]).join(members) + "}"
        body = rng.choice(["", " ", "\t"]) + body + rng.choice(["", " ", "\r"])
        if rng.random() < odd:
            body = rng.choice(["[1, 2]", '"text"', "not json", "{", "\x0c" + body, body + " x", body + "\x0b"])
        ts = "2024-01-01T00:00:01+02:00" if rng.random() < odd else "2024-01-01T00:00:00.123456789Z"
        tag = "P" if rng.random() < odd else "F"
        lines.append(f"{ts} {rng.choice(['stdout', 'stderr'])} {tag} {body}".encode())
    return lines


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize(("parser", "generate"), [("nginx", _random_lines), ("json", _random_json_lines)])
def test_the_c_parsers_write_the_python_paths_items(parser: str, generate: Callable[[int, int], list[bytes]],
                                                    seed: int) -> None:
    rng = random.Random(seed)
    lines = generate(3000, seed)
    taken = 0
    while lines:
        cut = rng.randint(1, 12)
        chunk, lines = lines[:cut], lines[cut:]
        reference, native = _both_paths(chunk, rng.randrange(2**40), parser)
        assert native.out == reference.out, chunk
        assert native.encoder.flagged == reference.encoder.flagged
        taken += len(chunk) - native.slow_lines
    assert taken > 1500  # most lines are taken by the C loop: what is compared is its work


_JSON_CANONICAL = ('{"ts":"2024-05-01T12:34:56.123Z","level":"INFO","logger":"shop.orders","msg":"order 7 placed",'
                   '"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","user":"alice","status":200,"took_ms":12,'
                   '"tags":["a","b"],"ctx":{"k":null,"n":-3}}')
_JSON_TEXT = st.text(alphabet=st.sampled_from('{}[]",:\\ u0123456789abcdefEe.-éx\t\x01'), max_size=4)


@given(messages=st.lists(_mutated(_JSON_CANONICAL, _JSON_TEXT), min_size=1, max_size=6), offset=st.integers(0, 2**40))
@example(messages=[_JSON_CANONICAL], offset=0)
@settings(max_examples=1000, deadline=None, derandomize=True, database=None)
def test_the_c_json_parser_on_mutated_lines(messages: list[str], offset: int) -> None:
    _assert_same_items(messages, offset, "json")


def test_the_c_loop_takes_common_json_lines_itself() -> None:
    lines = [b"2024-01-01T00:00:00Z stdout F " + _JSON_CANONICAL.replace("order 7", f"order {i}").encode()
             for i in range(2000)]
    lines += [b'2024-01-01T00:00:00Z stderr F {"msg":"only a message"}', b"2024-01-01T00:00:00Z stderr F {}",
              b'2024-01-01T00:00:00Z stderr F {"level":"WARN"}', b'2024-01-01T00:00:00Z stderr F {"n":1}']
    reference, native = _both_paths(lines, parser="json")
    assert native.out == reference.out
    assert native.slow_lines == 0
    doc = orjson.loads(native.out[0].split(b"\n")[1])
    assert doc["message"] == "order 0 placed"
    assert doc["log"]["level"] == "info" and doc["log"]["logger"] == "shop.orders"
    assert doc["trace"] == {"id": "4bf92f3577b34da6a3ce929d0e0e4736"}
    assert doc["json"] == {"ts": "2024-05-01T12:34:56.123Z", "user": "alice", "status": 200, "took_ms": 12,
                           "tags": ["a", "b"], "ctx": {"k": None, "n": -3}}


def test_json_lines_the_c_parser_hands_back_are_parsed_or_flagged_by_python() -> None:
    lines = [b"2024-01-01T00:00:00Z stdout F " + m.encode() for m in (
        '{"msg":"x","took":1.50}',  # a float orjson writes otherwise (1.5): Python writes it
        '{"msg":"x","a":1,"a":2}',  # a duplicate key: orjson keeps the last value at the first place
        '{"msg":"trace\\n\\tat a.b(C.java:1)"}',  # a message with a newline: Python adds error fields
        '{"msg":"x"',  # not JSON: flagged
        "[1, 2]",  # not an object: flagged
    )]
    reference, native = _both_paths(lines, parser="json")
    assert native.out == reference.out
    assert native.slow_lines == 5
    assert native.encoder.flagged == {"parse_failed": 2}


def test_json_nested_deeper_than_the_c_parser_goes_is_handed_back() -> None:
    # The C parser recurses per level: past 16 levels it hands the line back (here orjson refuses it too, flagged),
    # so a line of a million brackets can't exhaust its stack.
    head = b"2024-01-01T00:00:00Z stdout F "
    arrays = head + b'{"a":' + b"[" * 400_000 + b"]" * 400_000 + b"}"
    objects = head + b'{"a":' * 150_000 + b"1" + b"}" * 150_000
    ok = head + b'{"a":' + b"[" * 15 + b"]" * 15 + b',"b":' + b'{"c":' * 14 + b"1" + b"}" * 15
    reference, native = _both_paths([arrays, objects, ok], parser="json", limit=1 << 20)
    assert native.out == reference.out
    assert native.slow_lines == 2 and native.encoder.flagged == {"parse_failed": 2}
