"""The CRI fast path: whole `F` lines of a file without processing go from split fields straight to bytes.

This is the one place where decoding and encoding meet, on purpose: for the common line it saves building a
record (bench/bench_logs.py, null_sink). The decoder still owns every other line (partials, bad timestamps,
overlong messages) and the encoder every record it produces; neither calls the other.
"""

from __future__ import annotations

import orjson

from observe.logs.decode import STREAMS, TIMESTAMP, CriDecoder
from observe.logs.encode import Encoder
from observe.logs.event import Event


def ship_cri(lines: list[bytes], offset: int, now: bytes, decoder: CriDecoder, encoder: Encoder,
             out: list[bytes]) -> None:
    """Append the bulk items of CRI `lines` (starting at `offset`) to `out`; only whole `F` lines already in UTC
    take the inline template (a runtime's own offset goes through the encoder, which moves it to event.timezone)."""
    tmpl = encoder.tmpl
    dumps = orjson.dumps
    ts_ok = TIMESTAMP
    limit = decoder.max_event_bytes
    partial = decoder.partial
    slow: list[Event] = []
    for line in lines:
        p = line.split(b" ", 3)
        if (
            not partial and len(p) == 4 and p[2] == b"F" and p[1] in STREAMS
            and len(p[3]) <= limit and p[0][-1:] == b"Z" and ts_ok(p[0])
        ):
            try:
                out.append(tmpl % (offset, p[0], dumps(p[3].decode()), offset, p[1]))
            except UnicodeDecodeError:
                encoder.encode([(offset, p[0], p[1], p[3], 0, None)], out)
        else:
            decoder.decode_line(line, offset, now, slow)
            if slow:
                encoder.encode(slow, out)
                slow.clear()
        offset += len(line) + 1
