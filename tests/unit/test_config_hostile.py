"""Hostile config input: every case exits 2 with what to write instead, fast and small, never a traceback."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from observe.app.config import load_config
from observe.config import ConfigError

REPO = Path(__file__).resolve().parents[2]

# 360 bytes: nine levels of nine aliases, about 10^9 strings when expanded.
LOL = ",".join(['"lol"'] * 9)
ALIAS_BOMB = f"a: &a [{LOL}]\n" + "".join(
    f"{b}: &{b} [{','.join(['*' + a] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi", strict=True))


def observe(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a child with a 1 GiB address-space cap, so a blow-up fails the test instead of the machine."""
    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2**30, 2**30))

    return subprocess.run([sys.executable, "-m", "observe", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, cwd=REPO, preexec_fn=cap)


def assert_refused(proc: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    for text in expected:
        assert text in proc.stderr, proc.stderr


@pytest.mark.parametrize("where", ["logs:\n  paths: *i\n", "service:\n  host: *i\n"])
def test_alias_bomb_is_refused_quickly(tmp_path: Path, where: str) -> None:
    f = tmp_path / "bomb.yaml"
    f.write_text(ALIAS_BOMB + where)
    start = time.monotonic()
    proc = observe("config", "check", str(f))
    assert_refused(proc, "YAML aliases", "expected at most 100000")
    assert time.monotonic() - start < 20
    assert len(proc.stderr) < 1000


def test_a_large_value_is_echoed_cut_short(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("service:\n  host: [" + ", ".join(["'" + "x" * 100 + "'"] * 5000) + "]\n")
    proc = observe("config", "check", str(f))
    assert_refused(proc, "service.host: got [")
    line = next(ln for ln in proc.stderr.splitlines() if "service.host" in ln)
    got = line.split("got ", 1)[1].split(", expected", 1)[0]
    assert len(got) <= 200


def test_non_utf8_file(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_bytes(b"service:\n  host: caf\xe9\n")
    assert_refused(observe("config", "check", str(f)), "is not UTF-8", "save it as UTF-8")


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_bytes(b"\xef\xbb\xbfservice:\n  port: 9700\n")
    assert load_config(f).service.port == 9700


def test_nesting_100000_levels(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("service: " + "[" * 100_000 + "]" * 100_000 + "\n")
    assert_refused(observe("config", "check", str(f)), "nests deeper than 64 levels")


def test_env_list_value_that_is_not_json(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("service:\n  port: 9700\n")
    proc = observe("config", "check", str(f), env={"OBSERVE_LOGS__PATHS": "/a/*.log"})
    assert_refused(proc, "OBSERVE_LOGS__PATHS", "expected a JSON list", """OBSERVE_LOGS__PATHS='["/a/*.log"]'""")


def test_credentials_in_the_elasticsearch_url_are_refused_and_not_echoed(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text('elasticsearch:\n  url: "https://elastic:s3cr3t@es:9200"\n')
    proc = observe("config", "check", str(f))
    assert_refused(proc, "elasticsearch.url", "password_file", "OBSERVE_ES_PASSWORD")
    assert "s3cr3t" not in proc.stderr and "elastic:" not in proc.stderr
    proc = observe("config", "check", str(tmp_path / "none.yaml"),
                   env={"OBSERVE_ELASTICSEARCH__URL": "http://u:pw@es:9200"})
    assert proc.returncode == 2  # the file is missing: the env value is not the reason, but nothing leaks either
    with pytest.raises(ConfigError) as err:
        load_config(None, overrides={"elasticsearch": {"url": "http://u:pw123@es:9200"}})
    assert "pw123" not in str(err.value)


@pytest.mark.parametrize("url", ["not a url", "es:9200", "ftp://es", "http://", "http://es:port"])
def test_elasticsearch_url_must_be_an_http_url(url: str) -> None:
    with pytest.raises(ConfigError, match=r"elasticsearch.url: got .*expected an http:// or https:// URL"):
        load_config(None, overrides={"elasticsearch": {"url": url}})


def test_duplicate_keys_are_refused(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("service:\n  port: 9700\n  host: 0.0.0.0\n  port: 9800\n")
    assert_refused(observe("config", "check", str(f)), "duplicate key 'port' at line 4 (first at line 2)")


def test_merge_keys_are_not_duplicates(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("service:\n  <<: {port: 9700, host: 0.0.0.0}\n  port: 9800\n")
    cfg = load_config(f)
    assert cfg.service.port == 9800 and cfg.service.host == "0.0.0.0"


def test_max_event_bytes_must_be_positive(tmp_path: Path) -> None:
    f = tmp_path / "a.log"
    f.write_text("hello\n")
    proc = observe("logs", "parse", "--max-event-bytes", "-5", str(f))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--max-event-bytes" in proc.stderr and "-5" in proc.stderr


def test_a_key_that_is_not_a_string(tmp_path: Path) -> None:
    """Found by the property tests: `? ` is a mapping with a null key."""
    f = tmp_path / "c.yaml"
    f.write_text("? \n")
    assert_refused(observe("config", "check", str(f)), "top-level keys are section names; got None")
