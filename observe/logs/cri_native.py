"""The CRI fast path in C (cri_native.c), when it is built: the same items as `fastpath.ship_cri`, byte for byte.
The same library also classifies a chunk's messages for the multiline processor (`classify`), and for a file with
the nginx or json parser (and no multiline) parses the lines it can read the way the Python parser does
(`ship_chunk`'s `parser`; tests/unit/logs/test_cri_native_parsers.py holds them to the Python path).

`ship_chunk` takes a chunk of whole lines as it was read, not split: the C loop finds the lines, checks them and
writes the items; Python only slices the items out of one buffer. A line the C loop does not take (a partial
line, a bad timestamp, invalid UTF-8: see cri_native.c) goes through `ship_cri`, the pure-Python reference, and so
does every line while a partial line is open. A test holds the two to the same bytes on fuzzed chunks
(tests/unit/logs/test_cri_native.py).

The library is plain C without Python headers, loaded with ctypes: `make native` builds it with the machine's C
compiler, the image's build stage with zig cc (from PyPI). Without it (`OBSERVE_NATIVE=off`, or not built) the
pure-Python path runs: same output, more CPU (docs/logs.md, "Which path runs").
"""

from __future__ import annotations

import array
import ctypes
import os
import threading
from collections.abc import Callable
from pathlib import Path

from observe.logs.decode import CriDecoder
from observe.logs.encode import Encoder
from observe.logs.fastpath import ship_cri
from observe.logs.parsers import _JSON_ECS, _JSON_MESSAGE

LIBRARY = Path(__file__).with_name("_cri_native.so")
_SIZE = ctypes.c_size_t


def _load() -> ctypes.CDLL | None:
    if os.environ.get("OBSERVE_NATIVE", "on") == "off" or not LIBRARY.exists():
        return None
    try:
        lib = ctypes.CDLL(str(LIBRARY))
        items, classify = lib.observe_cri_items, lib.observe_classify
        nginx_items, json_items = lib.observe_cri_nginx_items, lib.observe_cri_json_items
    except (OSError, AttributeError):  # not loadable here, or built from an older cri_native.c: `make native`
        return None
    for function in (items, nginx_items, json_items):
        function.restype = _SIZE
        function.argtypes = [ctypes.c_char_p, _SIZE, _SIZE, ctypes.c_uint64, _SIZE, ctypes.c_char_p,
                             ctypes.POINTER(_SIZE), ctypes.c_char_p, _SIZE, ctypes.POINTER(_SIZE),
                             ctypes.POINTER(ctypes.c_int)]
    json_items.argtypes = [*json_items.argtypes, ctypes.c_char_p, _SIZE]
    classify.restype = None
    classify.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_uint32), _SIZE, ctypes.c_char_p, _SIZE,
                         ctypes.c_char_p]
    return lib


_lib = _load()
AVAILABLE = _lib is not None
_items = _lib.observe_cri_items if _lib is not None else None
_loops = {} if _lib is None else {
    "nginx": _lib.observe_cri_nginx_items, "json": _lib.observe_cri_json_items}


def _json_keys() -> bytes:
    """The keys JsonParser looks for, as the C loop's json_parse() takes them: the message keys, then each ECS
    group's, each key NUL-terminated, each group ended by an empty key. json_tail() writes the groups to these
    targets, in this order."""
    targets = [target for _, target in _JSON_ECS]
    assert targets == ["log.level", "log.logger", "trace.id", "span.id", "error.stack_trace", "error.type"], targets
    groups = [_JSON_MESSAGE, *(keys for keys, _ in _JSON_ECS)]
    return b"".join(b"".join(key.encode() + b"\0" for key in keys) + b"\0" for keys in groups)


_JSON_KEYS = _json_keys()


UNTRIGGERED = 1
"""`classify` bit: none of the patterns occurs in the message."""
AT_FRAME = 2
"""`classify` bit: the message is an `at` frame (observe/logs/multiline/at_frames.is_frame)."""


def classify(messages: list[bytes], patterns: bytes) -> bytes | None:
    """One byte per message, of the bits UNTRIGGERED (none of `patterns`, NUL-terminated and back to back, occurs
    in it) and AT_FRAME; None without the library. The multiline processor's look at a chunk (observe/logs/process.py):
    one C call, not two Python tests per line."""
    if _lib is None:
        return None
    n = len(messages)
    out = ctypes.create_string_buffer(n)
    lens = array.array("I", map(len, messages))  # three times faster to build than a ctypes array
    _lib.observe_classify(b"".join(messages), (ctypes.c_uint32 * n).from_buffer(lens), n, patterns, len(patterns),
                          out)
    return out.raw


# The output buffer: a 1 MiB chunk of 200-byte lines makes about 2.6 MiB of items, written in parts of this size,
# each split into items before the next (a larger buffer costs its size in RSS and saves nothing measurable).
ROOM = 256 * 1024


class _Scratch(threading.local):
    """The output buffer of one thread, kept between chunks, so that a chunk does not pay for zeroing it, and a line
    the C loop hands back costs nothing but that line. It grows only for an item larger than itself."""

    def __init__(self) -> None:
        self.room = ctypes.create_string_buffer(ROOM)

    def sized(self, nbytes: int) -> ctypes.Array[ctypes.c_char]:
        if len(self.room) < nbytes:
            self.room = ctypes.create_string_buffer(max(nbytes, 2 * len(self.room)))
        return self.room


_scratch = _Scratch()


def ship_chunk(buf: bytes, end: int, offset: int, now: bytes, decoder: CriDecoder, encoder: Encoder,
               out: list[bytes], parser: str | None = None, slow: Callable[[bytes, int], None] | None = None) -> int:
    """Append the bulk items of the lines in buf[:end] (whole lines, each with its newline; the first at `offset`)
    to `out`: what `ship_cri` appends for buf[:end - 1].split(b"\\n"). Returns how many lines that was (the C loop
    writes one item per line it takes). Needs AVAILABLE.

    With a `parser` (`nginx` or `json`, for a file with that parser and no multiline), the C loop also parses the
    lines, and writes what the decoder, the parser and the encoder write for them (`parser in
    encoder.inline_parsers` must hold). A line it does not take, and every line while a partial line is open, goes
    to `slow(line, its offset)`: the reader's general path, with the Python parser."""
    c_loop = _items if parser is None else _loops[parser]
    assert c_loop is not None and (parser is None or slow is not None)
    extra = (_JSON_KEYS, encoder.log_close) if parser == "json" else ()
    parts = encoder.line_parts
    joined = b"".join(parts)
    lengths = (_SIZE * 6)(*map(len, parts))
    limit = decoder.max_event_bytes
    room = _scratch.room
    written, full = _SIZE(), ctypes.c_int()
    pos = lines = 0
    while pos < end:
        if not decoder.partial:
            pos = c_loop(buf, end, pos, offset + pos, limit, joined, lengths, room, len(room), ctypes.byref(written),
                         ctypes.byref(full), *extra)
            if written.value:
                items = ctypes.string_at(room, written.value).split(b"\0")
                items.pop()  # after the last NUL
                out.extend(items)
                lines += len(items)
            if pos >= end:
                break
            if full.value:
                if not written.value:  # one item larger than the whole buffer
                    room = _scratch.sized(2 * len(room))
                continue
        # One line the C loop did not take, or any line while a partial line is open: the reference path.
        nl = buf.index(b"\n", pos, end)
        if slow is not None:
            slow(buf[pos:nl], offset + pos)
        else:
            ship_cri([buf[pos:nl]], offset + pos, now, decoder, encoder, out)
        pos = nl + 1
        lines += 1
    return lines
