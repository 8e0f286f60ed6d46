"""Stack-trace cases from public exception-detector suites, and the scenarios every one of them must pass.

`cases.yaml` lists each trace file with its language and the repository and file its facts come from. A
scenario wraps one trace in the surroundings a container log gives it (unrelated lines before and after, the
same trace twice back to back, the other stream interleaved line by line, lines split across CRI `P`/`F`
parts) and states the exact events that must come out. `run` feeds the CRI bytes through the real decoder
and the per-file processor, as the shipper does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from observe.logs.decode import CriDecoder
from observe.logs.event import Event
from observe.logs.process import PlanProcessor, Settings

HERE = Path(__file__).parent
LANGUAGES = ("java", "javascript", "csharp", "python", "go", "ruby", "php", "dart")
TS = b"2024-05-14T09:12:45.002000000Z"

# Lines around a trace that belong to no trace: the detect-exceptions suite's neutral line, and log records
# whose words ("warning", "exception", "error") must not glue them to a trace (issue 13, classes 1 and 3).
BEFORE = [
    "This is not an exception.",
    "2024-05-14 09:12:45.002  INFO 1 --- [main] c.e.shop.App : cache warning cleared, exception count 0",
]
AFTER = [
    "I am glad it contains no exception.",
    "2024-05-14 09:12:46.113  INFO 1 --- [nio-8080-exec-4] c.e.shop.OrderController : GET /orders/7 200",
]
# Google's neutral text: a line that sounds like a Go panic ("tympanic: ") and a blank line, never a trace.
ARBITRARY = ["This arbitrary text.", "It sounds tympanic: a word which means like a drum.", "",
             "I am glad it contains no exception."]
SCENARIOS = ("neighbours", "twice", "interleaved", "split_pf")


@dataclass(frozen=True)
class Case:
    """One trace: its language, its exact text (one event) and where its facts come from."""

    name: str
    language: str
    text: str
    source: str
    public: bool  # the trace itself comes from a public suite's test file (not only a rule's facts)

    @property
    def id(self) -> str:
        return f"{self.language}/{self.name}"


def load_cases() -> list[Case]:
    """Every case of cases.yaml, with its trace text."""
    raw = yaml.safe_load((HERE / "cases.yaml").read_text())["cases"]
    return [Case(c["name"], c["language"], (HERE / c["file"]).read_text(),
                 f'{c["source"]["repo"]} {c["source"]["path"]} ({c["source"]["item"]})',
                 c["source"]["path"].startswith("test")) for c in raw]


def cri(stream: str, text: str, parts: int = 1) -> list[bytes]:
    """One container line as CRI lines: `parts` pieces, all `P` but the last `F`."""
    raw = text.encode()
    if parts <= 1 or len(raw) < 2 * parts:
        return [TS + b" " + stream.encode() + b" F " + raw]
    step = -(-len(raw) // parts)
    pieces = [raw[i : i + step] for i in range(0, len(raw), step)]
    return [TS + b" " + stream.encode() + (b" F " if i == len(pieces) - 1 else b" P ") + p for i, p in enumerate(pieces)]


def scenario(name: str, trace: str) -> tuple[list[bytes], dict[str, list[str]]]:
    """The CRI lines of one scenario around `trace`, and the exact events expected per stream."""
    lines = trace.split("\n")
    if name == "neighbours":
        return [c for t in BEFORE + lines + AFTER for c in cri("stdout", t)], {"stdout": [*BEFORE, trace, *AFTER]}
    if name == "twice":
        return ([c for t in BEFORE + lines + lines + AFTER for c in cri("stdout", t)],
                {"stdout": [*BEFORE, trace, trace, *AFTER]})
    if name == "interleaved":
        # The trace on stderr, an unrelated stdout line between each two of its lines.
        other = [f"2024-05-14 09:12:45.{i:03d}  INFO 1 --- [main] c.e.shop.Health : GET /healthz 200" for i in range(len(lines))]
        out: list[bytes] = []
        for t, o in zip(lines, other, strict=True):
            out += cri("stderr", t) + cri("stdout", o)
        return out, {"stderr": [trace], "stdout": other}
    if name == "split_pf":
        # Every line of the trace written by the runtime in three parts (P, P, F).
        return ([c for t in BEFORE for c in cri("stdout", t)] + [c for t in lines for c in cri("stdout", t, 3)]
                + [c for t in AFTER for c in cri("stdout", t)], {"stdout": [*BEFORE, trace, *AFTER]})
    raise ValueError(name)


def run(mode: str, lines: list[bytes]) -> dict[str, list[str]]:
    """Decode CRI lines and merge them in `mode`, as the shipper does; the events' messages per stream."""
    decoder = CriDecoder(1 << 20)
    records: list[Event] = []
    decoder.decode(lines, 0, TS, records)
    decoder.flush(records)
    proc = PlanProcessor(Settings(multiline=mode))
    done = proc.process(records) + proc.flush(0.0, final=True)
    out: dict[str, list[str]] = {}
    for rec in sorted(done, key=lambda r: r[0]):
        out.setdefault(rec[2].decode(), []).append(rec[3].decode())
    return out


def right(mode: str, case: Case, name: str) -> bool:
    """True when `mode` gives exactly the expected events for scenario `name` of `case`."""
    lines, want = scenario(name, case.text)
    try:
        return run(mode, lines) == want
    except ValueError:  # a mode this version does not know
        return False
