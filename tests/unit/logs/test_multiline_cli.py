"""`observe logs parse --multiline ... --parser ...` prints exactly the merged, parsed documents."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from observe.app.cli import cli
from tests.unit.logs import traces

TS = "2024-05-14T09:00:00.000000001Z"


def test_parse_merges_cri_partials_interleaved_across_streams(tmp_path: Path) -> None:
    lines: list[str] = []
    for i, line in enumerate(traces.PYTHON.split("\n")):
        if len(line) > 40:
            lines += [f"{TS} stderr P {line[:40]}", f'{TS} stdout F {{"level":"info","msg":"tick {i}"}}',
                      f"{TS} stderr F {line[40:]}"]
        else:
            lines.append(f"{TS} stderr F {line}")
    path = tmp_path / "0.log"
    path.write_text("\n".join(lines) + "\n")
    out = CliRunner().invoke(cli, ["logs", "parse", "--multiline", "python", "--parser", "json", str(path)])
    assert out.exit_code == 0, out.output
    docs = [json.loads(x) for x in out.output.splitlines()]
    err = [d for d in docs if d["log"]["iostream"] == "stderr"]
    std = [d for d in docs if d["log"]["iostream"] == "stdout"]
    assert [d["message"] for d in err] == [traces.PYTHON]
    assert err[0]["error"]["type"] == "httpx.ConnectTimeout"
    assert "parse_failed" in err[0]["log"]["flags"]  # a traceback is not JSON: kept raw, flagged
    assert all(d["log"]["level"] == "info" and d["message"].startswith("tick ") for d in std) and std


def test_parse_rejects_a_bad_spec_with_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    path.write_text("x\n")
    out = CliRunner().invoke(cli, ["logs", "parse", "--parser", "xml", str(path)])
    assert out.exit_code == 2 and "expected one of json, nginx" in out.output
