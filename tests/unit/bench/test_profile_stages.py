"""bench/bench_profile.py: a py-spy stack goes to the stage of its innermost frame of ours."""

from pathlib import Path

from bench.bench_profile import OUTSIDE, STAGE_NAMES, STAGES, STARTUP, split, stage_of

PARSE = ("<module> (observe/__main__.py:3);run (asyncio/runners.py:118);_run (asyncio/events.py:84);"
         "read (/w/observe/logs/reader.py:190);process (/w/observe/logs/process.py:64);"
         "_parse (/w/observe/logs/process.py:105);parse (/w/observe/logs/parsers.py:150);match (re/__init__.py:1)")


def test_the_innermost_frame_of_ours_names_the_stage() -> None:
    assert stage_of(PARSE) == "parse"
    assert stage_of(PARSE.rsplit(";", 2)[0]) == "multiline"  # the processor itself
    assert stage_of("run (asyncio/runners.py:118);select (selectors.py:468)") == OUTSIDE
    assert stage_of("<module> (observe/__main__.py:3);_find_and_load (<frozen importlib._bootstrap>:1176);"
                    "<module> (pydantic/main.py:1)") == STARTUP
    assert stage_of("x (/w/observe/logs/batch.py:10)") == "deliver"
    assert stage_of("x (/w/observe/service.py:10)") == "service"
    assert stage_of("ship_chunk (/w/observe/logs/cri_native.py:80)") == "fast_path"
    assert stage_of("classify (/w/observe/logs/cri_native.py:60)") == "multiline"  # the pre-check
    assert stage_of("untriggered (/w/observe/logs/cri_native.py:60)") == "multiline"  # its name in older trees


def test_split_weighs_stacks_by_their_sample_counts(tmp_path: Path) -> None:
    raw = tmp_path / "stacks.txt"
    raw.write_text(f"{PARSE} 3\nrun (asyncio/runners.py:118) 1\n")
    assert split(raw) == {"parse": 0.75, OUTSIDE: 0.25, "samples": 4}


def test_every_stage_has_a_name() -> None:
    assert {stage for _, stage in STAGES} | {STARTUP, OUTSIDE} == set(STAGE_NAMES)
