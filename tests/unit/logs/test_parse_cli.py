"""`observe logs parse`: one JSON document per event, exactly what would be shipped, for each format."""

from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from observe.app.cli import cli


def parse(*args: str) -> list[dict[str, object]]:
    result = CliRunner().invoke(cli, ["logs", "parse", *args])
    assert result.exit_code == 0, result.output
    return [orjson.loads(line) for line in result.stdout_bytes.splitlines()]


def test_cri_with_partials_and_flags(tmp_path: Path) -> None:
    pod = tmp_path / "ns1_web-0_uid-1" / "app"
    pod.mkdir(parents=True)
    f = pod / "0.log"
    f.write_bytes(b"2024-01-01T00:00:00.5Z stdout P hel\n2024-01-01T00:00:01Z stdout F lo\n"
                  b"2024-01-01T00:00:02Z stderr F bad \xff\n")
    docs = parse("--format", "cri", str(f))
    assert [d["message"] for d in docs] == ["hello", "bad \ufffd"]
    assert docs[0]["@timestamp"] == "2024-01-01T00:00:00.5Z"
    assert docs[0]["kubernetes"] == {"namespace": "ns1", "pod": {"name": "web-0", "uid": "uid-1"},
                                     "container": {"restart_count": 0}}
    assert docs[1]["log"] == {"offset": 69, "iostream": "stderr", "flags": ["invalid_utf8"], "file": {"path": str(f)}}


def test_docker_and_plain_and_auto(tmp_path: Path) -> None:
    d = tmp_path / "d.log"
    d.write_bytes(b'{"log":"a\\n","stream":"stdout","time":"2024-01-01T00:00:00Z"}\n')
    p = tmp_path / "p.log"
    p.write_bytes(b"just text\n")
    docs = parse(str(d), str(p))
    assert [(x["message"], x["log"].get("iostream")) for x in docs] == [("a", "stdout"), ("just text", None)]  # type: ignore[union-attr]


def test_unknown_format_is_a_usage_error(tmp_path: Path) -> None:
    f = tmp_path / "x.log"
    f.write_bytes(b"x\n")
    result = CliRunner().invoke(cli, ["logs", "parse", "--format", "json", str(f)])
    assert result.exit_code == 2


@pytest.mark.parametrize("value", ["-5", "0", "1023"])
def test_max_event_bytes_below_the_configs_floor_is_refused(tmp_path: Path, value: str) -> None:
    f = tmp_path / "x.log"
    f.write_bytes(b"text\n")
    result = CliRunner().invoke(cli, ["logs", "parse", "--max-event-bytes", value, str(f)])
    assert result.exit_code == 2
    assert "--max-event-bytes" in result.output and f"got {value}" in result.output and "1024" in result.output


def test_max_event_bytes_cuts_a_plain_line_exactly(tmp_path: Path) -> None:
    f = tmp_path / "x.log"
    f.write_bytes(b"y" * 5000 + b"\n")
    docs = parse("--format", "plain", "--max-event-bytes", "1024", str(f))
    assert [len(str(d["message"])) for d in docs] == [1024]
    assert docs[0]["log"]["flags"] == ["truncated"]  # type: ignore[index]
