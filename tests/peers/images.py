"""Container images built on this machine, without a registry: buildah, mmdebstrap and a C compiler.

Each image is cached as a docker-archive tarball keyed by the hash of its inputs (source text, parent image,
tool versions), so a rerun with nothing changed costs nothing and the node peer imports the tarball into
containerd. The chain:

- pause: a static C binary of ours (PID 1 of every pod sandbox) in an empty image;
- debian: Debian bookworm `minbase` made by mmdebstrap from the mirrors this machine's apt uses;
- python: debian + Debian's python3 (3.11) and venv, the stand-in for python:3.11-slim-bookworm;
- observe: the project's Dockerfile, unchanged, built with --build-arg PYTHON_IMAGE=<python>;
- coredns: the CoreDNS binary in an empty image; and any small test image (`build_containerfile`).

`python -m tests.peers.images` (make image) builds the chain and prints the observe image's name and tarball.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.peers.base import PeerError, cache_dir, run
from tests.peers.debian import apt_install

VERSION = "v1"
# `python -m tests.peers install` builds the base images (network and disk bound) beside the Go builds;
# the node peer's install finds them cached. The observe image itself is built by the tests that use it.
INSTALL_ORDER = 44
INSTALL_LANE = "fetch"
PACKAGES = {"buildah": "buildah", "mmdebstrap": "mmdebstrap", "gcc": "gcc",
            "/usr/lib/x86_64-linux-gnu/libc.a": "libc6-dev"}
REPO = Path(__file__).resolve().parents[2]
SUITE = "bookworm"
PREFIX = "localhost/observe"

# PID 1 of every pod sandbox: holds the namespaces, reaps orphans, leaves on INT/TERM.
PAUSE_C = """\
/* observe's pod sandbox process: sleeps until told to stop, reaping any child that exits. */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static void stop(int sig) { (void)sig; _exit(0); }

static void reap(int sig) {
    (void)sig;
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
}

int main(void) {
    struct sigaction sa = {0};
    sa.sa_handler = stop;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = reap;
    sa.sa_flags = SA_NOCLDSTOP | SA_RESTART;
    sigaction(SIGCHLD, &sa, NULL);
    for (;;) {
        pause();
    }
}
"""

PYTHON_CONTAINERFILE = """\
# Stand-in for python:3.11-slim-bookworm: Debian bookworm minbase plus Debian's own python3 (3.11) and venv.
# Retries: on 2026-12-05 this RUN failed once on a cold cache (its log was overwritten by the run after, which passed).
ARG BASE
FROM ${BASE}
RUN apt-get -o Acquire::Retries=5 update \\
 && DEBIAN_FRONTEND=noninteractive apt-get -o Acquire::Retries=5 install -y --no-install-recommends \\
      python3 python3-venv python-is-python3 ca-certificates \\
 && rm -rf /var/lib/apt/lists/*
ENV LANG=C.UTF-8
CMD ["python3"]
"""

# pip inside a build needs the host's index and CA settings; mounted into RUN steps only, never into the image.
PIP_MOUNTS = ("/etc/pip.conf", "/etc/ssl/certs/ca-certificates.crt")


@dataclass(frozen=True)
class Image:
    """A built image: its reference and the docker-archive tarball holding it."""

    ref: str
    archive: Path

    @property
    def size(self) -> int:
        return self.archive.stat().st_size


def root() -> Path:
    return cache_dir("node-images", VERSION)


def buildah_argv() -> list[str]:
    """buildah with its storage kept in the peer cache (overlay driver, as root)."""
    found = shutil.which("buildah")
    if not found:
        raise PeerError("buildah is not on PATH; run `make peers` (the node peer installs it from Debian)")
    r = root() / "buildah"
    return [found, "--root", str(r / "root"), "--runroot", str(r / "run"), "--storage-driver", "overlay"]


def buildah(*args: str | Path, log: Path | None = None) -> str:
    out = subprocess.run([*buildah_argv(), *map(str, args)], capture_output=True, text=True)
    if log is not None:
        with log.open("a") as f:
            f.write(f"$ buildah {' '.join(map(str, args))}\n{out.stdout}\n{out.stderr}\n")
    if out.returncode != 0:
        raise PeerError(f"buildah {' '.join(map(str, args))} failed ({out.returncode}):\n{(out.stdout + out.stderr)[-4000:]}")
    return out.stdout.strip()


def digest_of(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode() if isinstance(p, str) else p)
        h.update(b"\0")
    return h.hexdigest()[:16]


def tool_version(argv: Sequence[str]) -> str:
    out = subprocess.run(list(argv), capture_output=True, text=True)
    return (out.stdout + out.stderr).strip().splitlines()[0] if (out.stdout + out.stderr).strip() else ""


@contextmanager
def _locked() -> Iterator[None]:
    with (root() / ".build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _cached(name: str, digest: str, build: Callable[[str, Path], None]) -> Image:
    """The image `PREFIX/name:digest`, from its tarball if present, else built by `build(ref, log)` and saved."""
    ref = f"{PREFIX}/{name}:{digest}"
    archive = root() / "archives" / f"{name}-{digest}.tar"
    if archive.is_file():
        return Image(ref, archive)
    with _locked():
        if archive.is_file():
            return Image(ref, archive)
        archive.parent.mkdir(parents=True, exist_ok=True)
        log = root() / f"{name}.log"
        t0 = time.monotonic()
        log.write_text(f"# build of {ref} started {time.strftime('%Y-%m-%dT%H:%M:%S')}\n")
        try:
            build(ref, log)
            tmp = archive.with_suffix(".tmp")
            tmp.unlink(missing_ok=True)
            buildah("push", "-q", ref, f"docker-archive:{tmp}:{ref}", log=log)
            tmp.replace(archive)
        finally:
            _release_storage(log)
        with log.open("a") as f:
            f.write(f"# {ref} built in {time.monotonic() - t0:.0f}s, {archive.stat().st_size} bytes\n")
        prune_archives(archive.parent, name)
    return Image(ref, archive)


def prune_archives(directory: Path, name: str, keep: int = 2) -> list[Path]:
    """Remove all but the `keep` newest archives of image `name` (each code change adds a 450 MB observe image;
    the one before the newest stays, so two checkouts used in turn do not rebuild each time). Returns the removed."""
    archives = sorted(directory.glob(f"{name}-*.tar"), key=lambda p: p.stat().st_mtime, reverse=True)
    removed = [a for a in archives[keep:] if a.stem.removeprefix(f"{name}-").isalnum()]
    for old in removed:
        old.unlink(missing_ok=True)
    return removed


def _release_storage(log: Path) -> None:
    """Remove working containers a failed build left, and the mounts buildah's storage keeps (none stay behind)."""
    subprocess.run([*buildah_argv(), "rm", "--all"], capture_output=True)
    storage = str(root() / "buildah")
    points = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()
              if line.split()[1].startswith(storage)]
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)


def _scratch_image(ref: str, log: Path, files: Mapping[Path, str], config: Sequence[str]) -> None:
    """An image FROM scratch holding `files` (host path -> path in the image), configured by buildah config args."""
    c = buildah("from", "scratch", log=log)
    try:
        for src, dest in files.items():
            buildah("copy", c, src, dest, log=log)
        buildah("config", *config, "--os", "linux", "--arch", "amd64", c, log=log)
        buildah("commit", "-q", c, ref, log=log)
    finally:
        buildah("rm", c, log=log)


def pause() -> Image:
    """The pod sandbox image: our static pause binary, uid 65535."""
    gcc = shutil.which("gcc")
    if not gcc:
        raise PeerError("gcc is not on PATH: the pause image is compiled here (apt-get install gcc libc6-dev)")

    def build(ref: str, log: Path) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            src, binary = Path(tmp) / "pause.c", Path(tmp) / "pause"
            src.write_text(PAUSE_C)
            run([gcc, "-static", "-Os", "-s", "-Wall", "-Werror", "-o", binary, src], log=log)
            _scratch_image(ref, log, {binary: "/pause"}, ["--entrypoint", '["/pause"]', "--user", "65535:65535"])

    return _cached("pause", digest_of(PAUSE_C, tool_version([gcc, "--version"])), build)


def mirror_lines() -> list[str]:
    """`deb URI SUITE COMPONENTS` for the Debian mirrors this machine's apt is configured with (one-line or deb822)."""
    lines: list[str] = []
    one_line = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*.list"))]
    for path in one_line:
        if path.is_file():
            for raw in path.read_text().splitlines():
                line = raw.split("#", 1)[0].strip()
                if line.startswith("deb "):
                    lines.append(line)
    for path in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        for stanza in path.read_text().split("\n\n"):
            fields: dict[str, str] = {}
            for raw in stanza.splitlines():
                if raw.startswith("#") or ":" not in raw:
                    continue
                key, _, value = raw.partition(":")
                fields[key.strip().lower()] = value.strip()
            if "deb" not in fields.get("types", "").split() or fields.get("enabled", "yes") == "no":
                continue
            for uri in fields.get("uris", "").split():
                for suite in fields.get("suites", "").split():
                    lines.append(f"deb {uri} {suite} {fields.get('components', 'main')}")
    suites = [ln for ln in lines if f" {SUITE}" in ln]
    if not suites:
        raise PeerError(f"no apt source for Debian {SUITE} in /etc/apt: mmdebstrap needs a mirror")
    return suites


def debian() -> Image:
    """Debian bookworm minbase, made by mmdebstrap from this machine's mirrors."""
    mmdebstrap = shutil.which("mmdebstrap")
    if not mmdebstrap:
        raise PeerError("mmdebstrap is not on PATH; run `make peers` (the node peer installs it from Debian)")
    mirrors = mirror_lines()

    def build(ref: str, log: Path) -> None:
        with tempfile.TemporaryDirectory(dir=root()) as tmp:
            rootfs = Path(tmp) / "rootfs.tar"
            run([mmdebstrap, "--variant=minbase", "--mode=root", "--quiet", SUITE, rootfs, *mirrors], log=log)
            c = buildah("from", "scratch", log=log)
            try:
                buildah("add", c, rootfs, "/", log=log)
                buildah("config", "--cmd", '["bash"]', "--env",
                        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                        "--os", "linux", "--arch", "amd64", c, log=log)
                buildah("commit", "-q", c, ref, log=log)
            finally:
                buildah("rm", c, log=log)

    # The day matters: the mirror moves, so the base is rebuilt at most once a week.
    week = time.strftime("%G-W%V")
    return _cached("debian", digest_of(SUITE, "minbase", *mirrors, tool_version([mmdebstrap, "--version"]), week), build)


def _ensure_in_storage(image: Image) -> None:
    """Load an image from its tarball into buildah's storage if a fresh cache lost it."""
    out = subprocess.run([*buildah_argv(), "inspect", "--type", "image", image.ref], capture_output=True, text=True)
    if out.returncode != 0:
        buildah("pull", "-q", f"docker-archive:{image.archive}")


def build_containerfile(name: str, containerfile: str, context: Path | None = None, *,
                        build_args: Mapping[str, str] | None = None, parents: Sequence[Image] = (),
                        context_digest: str = "", pip_mounts: bool = False) -> Image:
    """An image from a Containerfile text (and an optional context folder), on top of already built parents.

    pip_mounts: bind-mount the host's pip config and CA bundle into the RUN steps (not into apt steps: the
    ca-certificates package rewrites that bundle, which a read-only mount refuses).
    """
    for parent in parents:
        _ensure_in_storage(parent)
    args = dict(build_args or {})
    digest = digest_of(containerfile, json.dumps(args, sort_keys=True), context_digest,
                       *(p.ref for p in parents))

    def build(ref: str, log: Path) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            ctx = context or Path(tmp)
            cfile = Path(tmp) / "Containerfile"
            cfile.write_text(containerfile)
            argv: list[str | Path] = ["bud", "--network", "host", "--pull=never", "--layers", "-t", ref, "-f", cfile]
            for key, value in args.items():
                argv += ["--build-arg", f"{key}={value}"]
            for mount in PIP_MOUNTS if pip_mounts else ():
                if Path(mount).is_file():
                    argv += ["-v", f"{mount}:{mount}:ro"]
            buildah(*argv, ctx, log=log)

    return _cached(name, digest, build)


def python() -> Image:
    """The python:3.11-slim-bookworm stand-in."""
    base = debian()
    return build_containerfile("python", PYTHON_CONTAINERFILE, build_args={"BASE": base.ref}, parents=[base])


def dockerfile_sources(dockerfile: str) -> list[str]:
    """The context paths the Dockerfile's COPY/ADD lines read (not --from=... copies between stages)."""
    sources: list[str] = []
    for raw in dockerfile.splitlines():
        words = raw.split()
        if not words or words[0].upper() not in ("COPY", "ADD"):
            continue
        args = [w for w in words[1:] if not w.startswith("--")]
        if any(w.startswith("--from") for w in words[1:]) or len(args) < 2:
            continue
        sources += [a for a in args[:-1] if a not in sources]
    return sources


def _project_files(sources: Sequence[str]) -> list[str]:
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "--", *sources], cwd=REPO,
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise PeerError(f"git ls-files failed in {REPO}: {out.stderr.strip()}")
    return sorted(f for f in out.stdout.splitlines() if (REPO / f).is_file())


def observe() -> Image:
    """The project's own Dockerfile, unchanged, built on the local python base (PYTHON_IMAGE build arg)."""
    base = python()
    dockerfile = (REPO / "Dockerfile").read_text()
    files = _project_files(dockerfile_sources(dockerfile))
    h = hashlib.sha256()
    for f in files:
        h.update(f.encode() + b"\0" + (REPO / f).read_bytes() + b"\0")
    with tempfile.TemporaryDirectory(dir=root()) as tmp:
        ctx = Path(tmp)
        for f in files:
            (ctx / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / f, ctx / f)
        return build_containerfile("observe", dockerfile, ctx, build_args={"PYTHON_IMAGE": base.ref},
                                   parents=[base], context_digest=h.hexdigest(), pip_mounts=True)


def scratch_binary(name: str, binary: Path, entrypoint: str) -> Image:
    """A static binary alone in an empty image (CoreDNS)."""
    data = binary.read_bytes()

    def build(ref: str, log: Path) -> None:
        _scratch_image(ref, log, {binary: entrypoint}, ["--entrypoint", json.dumps([entrypoint])])

    return _cached(name, digest_of(hashlib.sha256(data).hexdigest(), entrypoint), build)


def install() -> None:
    """The pause, Debian and Python base images (idempotent: seconds when cached)."""
    apt_install(PACKAGES)
    pause()
    python()


def main() -> int:
    t0 = time.monotonic()
    try:
        image = observe()
    except PeerError as exc:
        print(f"image build failed: {exc}", file=sys.stderr)
        return 1
    print(f"{image.ref}\n{image.archive} ({image.size / 1e6:.0f} MB, {time.monotonic() - t0:.0f}s)")
    print(f"load it with: docker load -i {image.archive}  (or: ctr -n k8s.io images import {image.archive})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
