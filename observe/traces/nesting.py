"""Split an /api/traces body into its traces without recursion, for the rare body msgspec cannot decode whole.

msgspec decodes (and even skips) nested JSON recursively, so one trace nested past the recursion limit inside
`tags` or `errors` makes the whole answer fail. This scanner finds each element of `data` by counting brackets
outside strings, so the traces that are fine are decoded and the ones nested too deeply are skipped and counted.
"""

from __future__ import annotations

import re

MAX_DEPTH = 200  # a trace is a few levels deep; tag values nested past this are not tracing data

_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def split_traces(body: bytes, max_depth: int = MAX_DEPTH) -> tuple[list[bytes], int, bool]:
    """(traces nested at most max_depth levels, traces skipped for nesting deeper, whether `data` was found)."""
    kept: list[bytes] = []
    skipped = 0
    depth = 0
    in_data = False
    found = False
    start = 0
    deepest = 0
    previous = b""
    for m in _TOKENS.finditer(body):
        token = m.group()
        first = token[:1]
        if first == b'"':
            previous = token
            continue
        if first in b"[{":
            depth += 1
            if depth == 2 and first == b"[" and previous == b'"data"' and _colon_between(body, m.start()):
                in_data = found = True
            elif in_data and depth == 3:
                start, deepest = m.start(), 3
            elif in_data:
                deepest = max(deepest, depth)
        else:
            if in_data and depth == 3:
                if deepest - 2 <= max_depth:
                    kept.append(body[start:m.end()])
                else:
                    skipped += 1
            elif in_data and depth == 2:
                in_data = False
            depth -= 1
        previous = b""
    return kept, skipped, found


def _colon_between(body: bytes, pos: int) -> bool:
    """True when only `:` and white space precede pos back to the previous token (the key of this value)."""
    i = pos - 1
    while i >= 0 and body[i] in b" \t\r\n":
        i -= 1
    return i >= 0 and body[i:i + 1] == b":"
