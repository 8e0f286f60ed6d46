"""Parsers: JSON lines, nginx / ingress-nginx access logs, named-group regex, exception fields."""

from __future__ import annotations

import pytest

from observe.logs.event import FLAG_PARSE_FAILED
from observe.logs.parsers import JsonParser, NginxParser, ParserSpecError, parser_for
from observe.logs.stack_traces import error_fields
from tests.unit.logs import traces


def test_json_line_goes_under_json_with_ecs_keys_lifted() -> None:
    line = (
        '{"level":"ERROR","ts":"2024-05-14T09:15:31Z","logger":"billing.sync","msg":"charge failed",'
        '"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","order":{"id":7,"total":12.5},"retry":true}'
    )
    out = JsonParser().parse(line)
    assert out.flags == 0
    assert out.message == "charge failed"
    assert out.fields["log"] == {"level": "error", "logger": "billing.sync"}
    assert out.fields["trace"] == {"id": "4bf92f3577b34da6a3ce929d0e0e4736"}
    assert out.fields["json"] == {"ts": "2024-05-14T09:15:31Z", "order": {"id": 7, "total": 12.5}, "retry": True}


def test_json_message_key_and_stack_trace() -> None:
    out = JsonParser().parse('{"message":"boom","severity":"warning","stack_trace":"java.lang.X: y\\n\\tat a.b(C.java:1)"}')
    assert out.message == "boom"
    assert out.fields["log"]["level"] == "warning"
    assert out.fields["error"]["stack_trace"].startswith("java.lang.X")
    assert "json" not in out.fields


@pytest.mark.parametrize("line", ["not json", "{broken", "[1,2]", '"a string"', ""])
def test_json_failure_keeps_raw_and_flags(line: str) -> None:
    out = JsonParser().parse(line)
    assert out.flags == FLAG_PARSE_FAILED
    assert out.fields == {} and out.message is None


def test_nginx_combined_to_ecs() -> None:
    out = NginxParser().parse(traces.NGINX_COMBINED)
    f = out.fields
    assert out.flags == 0
    assert f["source"] == {"ip": "203.0.113.9"}
    assert f["user"] == {"name": "alice"}
    assert f["http"]["request"] == {"method": "GET", "referrer": "https://shop.example.com/"}
    assert f["http"]["version"] == "1.1"
    assert f["http"]["response"] == {"status_code": 200, "body": {"bytes": 51234}}
    assert f["url"] == {"original": "/static/app.js?v=3", "path": "/static/app.js", "query": "v=3"}
    assert f["user_agent"]["original"].startswith("Mozilla/5.0 (X11; Linux x86_64)")
    assert "event" not in f


def test_ingress_nginx_default_format_to_ecs() -> None:
    f = NginxParser().parse(traces.INGRESS_5XX).fields
    assert f["source"]["ip"] == "10.244.1.1"
    assert "user" not in f and "referrer" not in f["http"]["request"]
    assert f["http"]["response"]["status_code"] == 502
    assert f["http"]["request"]["bytes"] == 412
    assert f["http"]["request"]["id"] == "6f1d8c1bb7f0a5c1e2d3f4a5b6c7d8e9"
    assert f["event"]["duration"] == 4_000_000
    up = f["nginx"]["ingress_controller"]["upstream"]
    assert up["name"] == "shop-orders-8080"
    assert up["address"] == ["10.244.2.17:8080", "10.244.2.18:8080"]
    assert up["response"]["status_code"] == ["502", "502"]
    assert "alternative_name" not in up
    assert f["user_agent"]["original"] == "curl/8.5.0"


def test_nginx_garbage_request_line_is_kept() -> None:
    line = '198.51.100.4 - - [14/May/2024:09:16:05 +0000] "\\x16\\x03\\x01\\x02\\x00" 400 157 "-" "-"'
    f = NginxParser().parse(line).fields
    assert f["http"]["response"]["status_code"] == 400
    assert f["nginx"]["access"]["request"] == "\\x16\\x03\\x01\\x02\\x00"
    assert "url" not in f


def test_nginx_failure_flags() -> None:
    assert NginxParser().parse("2024/05/14 09:16:05 [error] 31#31: *1 connect() failed").flags == FLAG_PARSE_FAILED


_INGRESS_HEAD = '10.0.0.1 - - [01/May/2024:12:34:56 +0000] "GET / HTTP/1.1" 200 {size} "-" "curl/8.5.0" '


@pytest.mark.parametrize(("size", "tail"), [
    ("5", "312 1.2.3 [shop-web-8080] [] 10.0.0.2:80 5 0.004 200 abc"),  # [\d.]+ takes it, float() does not
    ("5", "312 . [shop-web-8080] [] 10.0.0.2:80 5 0.004 200 abc"),
    ("5", "312 " + "9" * 400 + " [shop-web-8080] [] 10.0.0.2:80 5 0.004 200 abc"),  # float() is inf
    ("5", "312 " + "9" * 11 + " [shop-web-8080] [] 10.0.0.2:80 5 0.004 200 abc"),  # 1e20 ns: beyond a long
    ("9223372036854775808", "312 0.004 [shop-web-8080] [] 10.0.0.2:80 5 0.004 200 abc"),  # 2**63
    ("5", "9" * 5000 + " 0.004 [shop-web-8080] [] 10.0.0.2:80 5 0.004 200 abc"),  # past int()'s digit limit
])
def test_nginx_numbers_beyond_a_long_flag_the_line(size: str, tail: str) -> None:
    # These raised (ValueError, OverflowError) out of the parser, or made a document orjson can't encode.
    out = NginxParser().parse(_INGRESS_HEAD.format(size=size) + tail)
    assert out.flags == FLAG_PARSE_FAILED and out.fields == {}


def test_nginx_numbers_at_a_longs_edge_still_parse() -> None:
    f = NginxParser().parse(_INGRESS_HEAD.format(size="9223372036854775807")
                            + "007 9223372036.854775 [a] [] 10.0.0.2:80 5 0.004 200 abc").fields
    assert f["http"]["response"]["body"]["bytes"] == (1 << 63) - 1
    assert f["http"]["request"]["bytes"] == 7
    assert f["event"]["duration"] == round(9223372036.854775 * 1e9)


def test_regex_named_groups_to_dotted_fields() -> None:
    parser = parser_for(r"regex:^(?P<log__level>[A-Z]+) \[(?P<service__name>[^\]]+)\] (?P<message>.*)$")
    assert parser is not None
    out = parser.parse("WARN [checkout] cart is empty")
    assert out.message == "cart is empty"
    assert out.fields == {"log": {"level": "warn"}, "service": {"name": "checkout"}}
    assert parser.parse("no match here").flags == FLAG_PARSE_FAILED


@pytest.mark.parametrize(
    "spec", ["xml", "regex:(unclosed", "regex:no groups", r"regex:(?P<kubernetes__pod__name>\S+)", r"regex:(?P<host__name>\S+)"]
)
def test_bad_parser_spec_is_rejected(spec: str) -> None:
    with pytest.raises(ParserSpecError):
        parser_for(spec)


def test_none_and_plain_mean_no_parser() -> None:
    assert parser_for("none") is None and parser_for("plain") is None


def test_error_fields_from_java_trace() -> None:
    assert error_fields(traces.DUBBO)["tags"] == ["java_exception"]
    f = error_fields(traces.DUBBO)["error"]
    assert f["type"] == "org.apache.dubbo.rpc.RpcException"
    assert f["message"].startswith("Failed to invoke the method sayHello")
    assert f["stack_trace"].startswith("org.apache.dubbo.rpc.RpcException")
    assert f["stack_trace"].endswith("\t... 3 more")


def test_error_fields_from_spring_root_cause() -> None:
    f = error_fields(traces.SPRING_BOOT)["error"]
    assert f["type"] == "org.postgresql.util.PSQLException"


def test_error_fields_from_python_chain_names_the_last_exception() -> None:
    assert error_fields(traces.PYTHON)["tags"] == ["python_exception"]
    f = error_fields(traces.PYTHON)["error"]
    assert f["type"] == "httpx.ConnectTimeout"
    assert f["message"] == "timed out"
    assert f["stack_trace"].startswith("Traceback (most recent call last):")


def test_error_fields_from_go_panic() -> None:
    assert error_fields(traces.GO_PANIC)["tags"] == ["go_panic"]
    f = error_fields(traces.GO_PANIC)["error"]
    assert f["type"] == "panic"
    assert f["message"] == "runtime error: invalid memory address or nil pointer dereference"


def test_no_error_fields_for_plain_multiline_text() -> None:
    assert error_fields("line one\nline two") == {}
    assert error_fields("single line java.lang.IllegalStateException: x") == {}


def test_error_fields_tag_every_language_of_the_multiline_cases() -> None:
    from tests.unit.logs.multiline_cases import load_cases

    tags = {"java": "java_exception", "csharp": "java_exception", "javascript": "javascript_exception",
            "python": "python_exception", "go": "go_panic", "ruby": "ruby_exception", "php": "php_exception",
            "dart": "dart_exception"}
    found = {c.id: error_fields(c.text) for c in load_cases()}
    for case_id, fields in found.items():
        if fields:
            assert fields["tags"] == [tags[case_id.split("/")[0]]], case_id
            assert fields["error"]["type"] and fields["error"]["stack_trace"], case_id
    assert found["go/http_panic_serving"]["error"]["message"].startswith("runtime error: invalid memory address")
    assert found["ruby/rails_routing"]["error"]["type"] == "ActionController::RoutingError"
    assert found["php/php8_uncaught"]["error"] == {
        "type": "RuntimeException", "message": "cart 9 is locked",
        "stack_trace": found["php/php8_uncaught"]["error"]["stack_trace"]}
    assert found["javascript/node_express"]["error"]["type"] == "ReferenceError"
    assert found["dart/async_bad_state"]["error"]["type"] == "Bad state"
    assert sum(1 for f in found.values() if f) >= 43


def test_no_error_fields_for_error_words_without_frames() -> None:
    assert error_fields("TypeError: x\nsomething else") == {}
    assert error_fields("Unhandled exception\nnot dart") == {}
