"""Property tests: generated input thrown at every loader and parser a user or an attacker can feed.

The property is the same everywhere: exit 0 or 2 (or the documented refusal), never a traceback, bounded memory.
`make test` runs the "ci" profile (fixed seed, a bounded number of examples); `make fuzz` runs the "fuzz"
profile, a hundred times more examples with a fresh seed each run.
"""

from __future__ import annotations

import asyncio
import json
import os
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exporters.config import ProbeModuleConfig
from exporters.probe import discovery, prober
from exporters.probe.allowlist import BadTarget, TargetPolicy, canonical_host
from observe.app.cli import cli
from observe.app.config import load_config
from observe.config import ConfigError

settings.register_profile("ci", max_examples=40, derandomize=True, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.register_profile("fuzz", max_examples=4000, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

MEMORY_LIMIT = 64 * 2**20  # per example, as Python allocations (tracemalloc); inputs here are a few KiB


@contextmanager
def bounded_memory() -> Iterator[None]:
    tracemalloc.start()
    try:
        yield
        _, peak = tracemalloc.get_traced_memory()
        assert peak < MEMORY_LIMIT, f"peak {peak / 2**20:.0f} MiB"
    finally:
        tracemalloc.stop()


def run_cli(*args: str) -> Any:
    """The CLI in this process; a traceback would surface as result.exception other than SystemExit."""
    result = CliRunner().invoke(cli, list(args), catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"traceback for {args}: {result.exception!r}\n{result.output}") from result.exception
    assert result.exit_code in (0, 2), (args, result.exit_code, result.output)
    return result


# ---- config loading -----------------------------------------------------------------------------------------

KEYS = ["service", "logs", "exporters", "traces", "elasticsearch", "kube", "render", "port", "paths", "url",
        "probe", "modules", "allow_cidrs", "<<", "x"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=30))
documents = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)), max_leaves=30)
YAML_PIECES = ["&a ", "*a", "<<: ", "- ", "[", "]", "{", "}", ": ", "\n", "  ", "!!python/object:os.system ", "%YAML 1.2\n",
               "---\n", "service:", "port: ", "'", '"', "\\xff", "\t", "? ", "!!binary ", "9" * 30, "~"]


def check_config_text(tmp_path: Path, data: bytes) -> None:
    f = tmp_path / "c.yaml"
    f.write_bytes(data)
    with bounded_memory():
        try:
            load_config(f)
        except ConfigError as exc:
            assert len(str(exc)) < 20_000


@given(documents)
def test_config_from_generated_documents(tmp_path_factory: pytest.TempPathFactory, doc: Any) -> None:
    tmp = tmp_path_factory.mktemp("cfg")
    check_config_text(tmp, yaml.safe_dump({"service": doc} if not isinstance(doc, dict) else doc).encode())


@given(st.lists(st.sampled_from(YAML_PIECES), max_size=40).map("".join), st.binary(max_size=40))
def test_config_from_generated_text(tmp_path_factory: pytest.TempPathFactory, text: str, noise: bytes) -> None:
    tmp = tmp_path_factory.mktemp("cfg")
    check_config_text(tmp, text.encode() + noise)


ENV_KEYS = ["OBSERVE_LOGS__PATHS", "OBSERVE_SERVICE__PORT", "OBSERVE_EXPORTERS__PROBE__ALLOW_CIDRS",
            "OBSERVE_ELASTICSEARCH__URL", "OBSERVE_TRACES__SERVICES", "OBSERVE_LOGS"]


@given(st.sampled_from(ENV_KEYS), st.one_of(st.text(max_size=40), documents.map(json.dumps)))
def test_config_from_generated_env(key: str, value: str) -> None:
    value = value.replace("\x00", "")
    old = os.environ.get(key)
    os.environ[key] = value
    try:
        with bounded_memory():
            try:
                load_config(None)
            except ConfigError:
                pass
    finally:
        if old is None:
            del os.environ[key]
        else:
            os.environ[key] = old


# ---- logs parse: every format, multiline mode and parser ------------------------------------------------------

FORMATS = ["auto", "cri", "docker", "plain"]
MULTILINE = ["none", "auto", "java", "python", "go", r"regex:^\d", "regex:(", "regex:"]
PARSERS = ["none", "json", "nginx", r"regex:(?P<word>\w+)", "regex:[", "regex:(?P<a>x)(?P<a>y)"]
LINE_PIECES = ["2024-05-01T12:00:00.000000000Z ", "stdout ", "stderr ", "F ", "P ", '{"log":"', '\\n","stream":"stdout",'
               '"time":"2024-05-01T12:00:00Z"}', "Traceback (most recent call last):", "  File \"x.py\", line 1",
               "\tat com.x.Y(Y.java:1)", "Exception in thread \"main\"", "panic: boom", "goroutine 1 [running]:",
               '{"level":"info","msg":"hi"}', '127.0.0.1 - - [01/May/2024:12:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-"',
               "\n", "\r\n", "\x00", "é", "\ufeff", "{", "[" * 50, "x" * 300]


@given(st.sampled_from(FORMATS), st.sampled_from(MULTILINE), st.sampled_from(PARSERS),
       st.lists(st.sampled_from(LINE_PIECES), max_size=60).map("".join), st.binary(max_size=60),
       st.sampled_from(["1024", "2000", "-5", "0", "x"]))
def test_logs_parse(tmp_path_factory: pytest.TempPathFactory, fmt: str, multiline: str, parser: str, text: str,
                    noise: bytes, max_event: str) -> None:
    f = tmp_path_factory.mktemp("logs") / "app.log"
    f.write_bytes(text.encode() + noise)
    with bounded_memory():
        run_cli("logs", "parse", "--format", fmt, "--multiline", multiline, "--parser", parser,
                "--max-event-bytes", max_event, str(f))


# ---- traces analyze ---------------------------------------------------------------------------------------------

json_values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                                     st.text(max_size=10)),
                           lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                   st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                           max_leaves=20)
tag_values = st.one_of(json_values, st.sampled_from(["server", "client", "probabilistic", "1e-300", "5e-324", "ERROR"]),
                       st.floats(allow_nan=False, allow_infinity=False))
tags = st.lists(st.fixed_dictionaries({
    "key": st.sampled_from(["span.kind", "error", "http.status_code", "otel.status_code", "sampler.type",
                            "sampler.param", "other"]),
    "type": st.sampled_from(["string", "bool", "int64", "float64"]), "value": tag_values}), max_size=6)
spans = st.lists(st.fixed_dictionaries({
    "traceID": st.sampled_from(["t1", "t2"]), "spanID": st.sampled_from(["a", "b", "c", "d"]),
    "operationName": st.text(max_size=10),
    "references": st.lists(st.fixed_dictionaries({"refType": st.sampled_from(["CHILD_OF", "FOLLOWS_FROM"]),
                                                  "spanID": st.sampled_from(["a", "b", "c", "x"])}), max_size=2),
    "startTime": st.integers(min_value=-(2**63), max_value=2**63 - 1),
    "duration": st.integers(min_value=-(2**40), max_value=2**40),
    "tags": tags, "processID": st.sampled_from(["p1", "p2", "p3"])}), max_size=6)
traces = st.lists(st.fixed_dictionaries({
    "traceID": st.sampled_from(["t1", "t2", "t3"]), "spans": spans,
    "processes": st.dictionaries(st.sampled_from(["p1", "p2"]),
                                 st.fixed_dictionaries({"serviceName": st.text(max_size=8)}), max_size=2)}), max_size=4)
bodies = st.one_of(
    traces.map(lambda ts: json.dumps({"data": ts}).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
    st.tuples(traces, st.integers(min_value=1, max_value=3000)).map(
        lambda t: json.dumps({"data": t[0], "errors": "DEEP"}).encode().replace(b'"DEEP"', b"[" * t[1] + b"]" * t[1])),
)


@given(bodies, st.booleans())
def test_traces_analyze(tmp_path_factory: pytest.TempPathFactory, body: bytes, bom: bool) -> None:
    f = tmp_path_factory.mktemp("traces") / "export.json"
    f.write_bytes((b"\xef\xbb\xbf" if bom else b"") + body)
    with bounded_memory():
        run_cli("traces", "analyze", str(f))


# ---- the probe target parser ------------------------------------------------------------------------------------

targets = st.one_of(
    st.text(max_size=60),
    st.tuples(st.sampled_from(["http://", "https://", "ftp://", "", "//", "http:///"]),
              st.text(alphabet=st.characters(codec="utf-8"), max_size=20),
              st.sampled_from(["", ":80", ":0", ":65536", ":-1", ":x", ":443", "."]),
              st.sampled_from(["", "/", "/a b", "/%zz", "?q=1 2", "#f", "@evil", "/\x00"])).map("".join),
    st.sampled_from(["http://[::1]:80/", "http://169.254.169.254/", "http://0x7f.1/", "http://2130706433/",
                     "http://localhost./", "http://[::ffff:127.0.0.1]/", "http://user:pw@a.svc/", "tcp://a:1"]),
)
_refuse_all = TargetPolicy([], [], [], ports=[80, 443])


@given(targets, st.sampled_from(["http", "tcp"]))
def test_probe_target_parser(target: str, kind: str) -> None:
    """With nothing allowed, every target is refused or fails as a probe; nothing raises anything else."""
    module = ProbeModuleConfig(prober=kind)  # type: ignore[arg-type,call-arg]

    async def one() -> None:
        try:
            result = await prober.run(target, module, _refuse_all, 0.5)
        except prober.Refused as exc:
            assert exc.reason in ("bad_target", "not_allowlisted", "unresolvable", "port_not_allowed")
            return
        assert not result.success

    asyncio.run(one())
    try:
        canonical_host(target)
    except BadTarget:
        pass
    assert isinstance(discovery.target_port(target), int)


def _policy_checks(policy: TargetPolicy) -> Callable[[str], None]:
    def check(address: str) -> None:
        for by in ("host", "suffix", "cidr"):
            policy.connect_allowed(address, by)
    return check


@given(st.one_of(st.ip_addresses().map(str), st.text(max_size=40)))
def test_address_checks_never_raise(address: str) -> None:
    _policy_checks(TargetPolicy([], ["0.0.0.0/0", "::/0", "127.0.0.1/32"], []))(address)
