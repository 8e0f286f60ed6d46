"""The workload of the node tests: prints a known sequence to stdout and stderr, in one of a few modes.

Runs as PID 1 of a container built from tests/peers/images.py's python base. Every line names the mode and
an id the test chose, so the test knows exactly which lines Elasticsearch must hold, each once.
  seq ID       plain lines on both streams, lines longer than the runtime's 16 KiB split, a Python traceback;
               then sleeps
  rotate ID N  N numbered lines of ~300 bytes, paced so the kubelet rotates the file several times; then sleeps
  endless ID   a numbered line every 20 ms until SIGTERM, then `last ID <n>` and exit 0
  crash ID     which run this is (a counter in /state, an emptyDir), 20 lines, exit 1 (a crash loop)
  http         serves 200 on :8080 (the probe target)
"""

from __future__ import annotations

import http.server
import os
import signal
import sys
import time

LONG = 40_000  # bytes: the runtime splits lines above 16 KiB into partial CRI lines


def out(text: str, stream: str = "stdout") -> None:
    f = sys.stdout if stream == "stdout" else sys.stderr
    f.write(text + "\n")
    f.flush()


def sleep_forever() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        time.sleep(3600)


def seq(ident: str) -> None:
    for i in range(100):
        out(f"seq {ident} stdout {i}")
        out(f"seq {ident} stderr {i}", "stderr")
    for k in range(3):
        out(f"seq {ident} long {k} " + "abcdefghij" * (LONG // 10))
    try:
        {}["missing-" + ident]
    except KeyError:
        import traceback
        sys.stderr.write(traceback.format_exc())
        sys.stderr.flush()
    time.sleep(3)  # the traceback is its own event: the stream goes quiet before the next line
    out(f"seq {ident} done")
    sleep_forever()


def rotate(ident: str, n: int) -> None:
    pad = "r" * 280
    start = time.monotonic()
    for i in range(n):
        out(f"rotate {ident} {i} {pad}")
        if i % 500 == 499:
            # 2,000 lines (~600 KB) a second: past 1 MiB every other check of the kubelet (every 3 s), so it
            # rotates every few seconds while the shipper reads.
            time.sleep(max(0.0, start + (i + 1) / 2000 - time.monotonic()))
    out(f"rotate {ident} done")
    sleep_forever()


def endless(ident: str) -> None:
    n = 0
    stop = False

    def term(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, term)
    while not stop:
        out(f"endless {ident} {n}")
        n += 1
        time.sleep(0.02)
    out(f"last {ident} {n}")


def crash(ident: str) -> None:
    counter = "/state/runs"
    run = int(open(counter).read()) if os.path.exists(counter) else 0
    with open(counter, "w") as f:
        f.write(str(run + 1))
    for i in range(20):
        out(f"crash {ident} run {run} line {i}")
    sys.exit(1)


class Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main() -> None:
    mode, *args = sys.argv[1:]
    if mode == "seq":
        seq(args[0])
    elif mode == "rotate":
        rotate(args[0], int(args[1]))
    elif mode == "endless":
        endless(args[0])
    elif mode == "crash":
        crash(args[0])
    elif mode == "http":
        http.server.ThreadingHTTPServer(("", 8080), Ok).serve_forever()
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
