"""Email addresses as Alertmanager's `to:` takes them: bare addresses in a comma-separated list."""

from __future__ import annotations

import re

# RFC 5322 dot-atom without `{` and `}`: Alertmanager expands `to:` as a Go template, and an address
# taken from a namespace annotation must not be able to inject one.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`|~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
ADDRESS = re.compile(rf"^{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})*$")


def split_addresses(text: str) -> tuple[list[str], list[str]]:
    """The (valid, invalid) pieces of a comma-separated list, in order; blanks ignored, repeats kept once."""
    valid: list[str] = []
    invalid: list[str] = []
    for piece in (p.strip() for p in text.split(",")):
        if not piece:
            continue
        bucket = valid if ADDRESS.match(piece) else invalid
        if piece not in bucket:
            bucket.append(piece)
    return valid, invalid
