"""The Dockerfile, checked statically: no container engine runs here, so it is parsed, not built."""

from __future__ import annotations

import fnmatch
import re
import shlex
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
BUILD_TOOLS = ("gcc", "g++", "build-essential", "make", "clang", "git", "curl", "wget")


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in (REPO / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = pending + line
        pending = ""
        word, _, rest = full.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for instr in instructions():
        if instr[0] == "FROM":
            result.append([])
        if result:
            result[-1].append(instr)
    return result


def test_multi_stage_with_a_slim_base() -> None:
    found = stages()
    assert len(found) >= 2
    args = dict(re.findall(r"^ARG (\w+)=(\S+)", (REPO / "Dockerfile").read_text(), re.M))
    for stage in found:
        image = stage[0][1].split()[0]
        image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image)
        assert "slim" in image, image


def test_final_stage_runs_as_non_root_and_carries_no_build_tools() -> None:
    final = stages()[-1]
    users = [args for word, args in final if word == "USER"]
    assert users, "the final stage sets no USER"
    uid = users[-1].split(":")[0]
    assert uid not in ("0", "root")
    for word, args in final:
        assert word != "RUN" or not any(tool in shlex.split(args) for tool in BUILD_TOOLS), args
        assert not (word == "RUN" and "pip install" in args), "pip runs only in the build stage"
    copies = [args for word, args in final if word == "COPY"]
    assert copies and all(c.startswith("--from=") for c in copies), "the final stage only copies build output"


def test_the_build_stage_installs_the_locked_runtime_versions() -> None:
    build = stages()[0]
    installs = [args for word, args in build if word == "RUN" and "pip install" in args]
    assert any("-r requirements.txt" in args for args in installs), installs
    assert any(word == "COPY" and "requirements.txt" in args.split() for word, args in build)
    # The project itself goes in without resolving anything again, so only locked versions are installed.
    runtime = [args for args in installs if "/opt/observe/bin/pip install" in args]
    assert all("-r requirements.txt" in args or "--no-deps" in args for args in runtime), runtime
    # A build tool (the C compiler of the fast path) goes into a throwaway virtualenv, pinned to one version.
    for args in installs:
        if args not in runtime:
            tool = args.split("pip install", 1)[1].split("&&")[0].split()
            assert [w for w in tool if not w.startswith("-")] == ["ziglang==0.15.2"], args
            assert "rm -rf /tmp/zig" in args, args


def test_the_build_stage_builds_the_c_fast_path_and_checks_that_it_loads() -> None:
    build = stages()[0]
    runs = " ".join(args for word, args in build if word == "RUN")
    assert "ziglang cc -mcpu=baseline" in runs and "-o observe/logs/_cri_native.so observe/logs/cri_native.c" in runs
    assert "assert cri_native.AVAILABLE" in runs


def test_dockerignore_lets_through_what_copy_needs() -> None:
    rules = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
             if line.strip() and not line.startswith("#")]

    def included(path: str) -> bool:
        keep = True
        for rule in rules:
            negate = rule.startswith("!")
            pattern = rule.lstrip("!").rstrip("/")
            if fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/"):
                keep = negate
        return keep

    for word, args in stages()[0]:
        if word == "COPY" and not args.startswith("--from"):
            for source in args.split()[:-1]:
                assert included(source), f"{source} is excluded by .dockerignore"
    assert not included("tests/peers/base.py")
