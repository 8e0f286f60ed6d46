"""The span model: Jaeger `/api/traces` JSON decoded into compact span records.

Decoding is the hot path (see docs/traces.md). Three things keep it fast:
- typed msgspec Structs that hold only the fields we use, so the rest is skipped, not built;
- a trace's spans stay raw bytes until we know the trace is new or changed (the same trace comes back
  once per service it touches, and again in every overlap window);
- a span's tags stay raw bytes too: the handful we need are found by byte search in Jaeger's compact
  layout (`{"key":K,"type":T,"value":V}`), with a full typed decode of the tags as the fallback for
  any other layout (pretty-printed exports, reordered fields, escaped strings).
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterator
from typing import Any

import msgspec

from observe.traces.names import NameNormaliser

# Span kinds as small ints (the record is kept for every span in the window).
KIND_UNSPECIFIED, KIND_INTERNAL, KIND_SERVER, KIND_CLIENT, KIND_PRODUCER, KIND_CONSUMER = range(6)
_KINDS = {"internal": KIND_INTERNAL, "server": KIND_SERVER, "client": KIND_CLIENT,
          "producer": KIND_PRODUCER, "consumer": KIND_CONSUMER}
# spanmetrics-connector label values for span_kind, indexed by kind.
KIND_LABELS = ("SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER", "SPAN_KIND_CLIENT",
               "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER")

STATUS_UNSET, STATUS_OK, STATUS_ERROR = range(3)
STATUS_LABELS = ("STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR")

# What a client span's OTel semantic-convention attributes say it calls (the servicegraph connector's
# connection_type): a database (db.system/db.name) or a messaging system (messaging.system).
CONN_NONE, CONN_DATABASE, CONN_MESSAGING = range(3)
Naming = tuple[str, str, str, int]  # node, namespace, peer, connection type
NO_NAMING: Naming = ("", "", "", CONN_NONE)


class Tag(msgspec.Struct, gc=False):
    """One Jaeger key/value tag (the `type` field is skipped)."""

    key: str
    value: Any = None


class Reference(msgspec.Struct, gc=False):
    """A span reference; CHILD_OF names the parent."""

    spanID: str
    refType: str = "CHILD_OF"


class Process(msgspec.Struct, gc=False):
    """The process a span came from; only its service name matters here."""

    serviceName: str = ""


class JaegerSpan(msgspec.Struct, gc=False):
    """A span as the Jaeger query API returns it, with the fields we use."""

    spanID: str
    operationName: str = ""
    references: list[Reference] = []
    startTime: int = 0
    duration: int = 0
    tags: msgspec.Raw = msgspec.Raw(b"[]")
    processID: str = ""
    process: Process | None = None


class RawTrace(msgspec.Struct, gc=False):
    """A trace whose spans and processes are still undecoded bytes."""

    traceID: str
    spans: msgspec.Raw = msgspec.Raw(b"[]")
    processes: msgspec.Raw = msgspec.Raw(b"{}")


class TracesResponse(msgspec.Struct, gc=False):
    """The `{"data": [trace, ...]}` body of /api/traces (and of a Jaeger JSON export)."""

    data: list[RawTrace] | None = None
    errors: Any = None


class ServicesResponse(msgspec.Struct):
    """The body of /api/services."""

    data: list[str] | None = None


class Span(msgspec.Struct, gc=False, array_like=True):
    """A span reduced to what pairing and aggregation need; array_like keeps the state file small."""

    span_id: str
    parent_id: str
    trace_id: str
    service: str
    name: str
    kind: int
    start_us: int
    duration_us: int
    status: int
    weight: float
    # Kiali's names (Istio's istio.canonical_service and istio.namespace tags), what an uninstrumented peer is
    # called (peer.service, db.name, db.system, as the servicegraph connector's virtual nodes; "" when absent) and
    # the connection type. One tuple shared by every span with the same tags, so the window stays small.
    naming: Naming = NO_NAMING

    @property
    def node(self) -> str:
        return self.naming[0]

    @property
    def namespace(self) -> str:
        return self.naming[1]

    @property
    def peer(self) -> str:
        return self.naming[2]

    @property
    def conn(self) -> int:
        return self.naming[3]


_response = msgspec.json.Decoder(TracesResponse)
_spans = msgspec.json.Decoder(list[JaegerSpan])
_processes = msgspec.json.Decoder(dict[str, Process])
_tags = msgspec.json.Decoder(list[Tag])
_value = msgspec.json.Decoder()


class gc_paused:
    """Pause the cyclic GC while building many short-lived objects.

    Decoding builds millions of containers; every allocation burst would otherwise trigger collections
    that walk the whole long-lived span window. None of these objects form cycles.
    """

    def __enter__(self) -> None:
        self._was = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc: object) -> None:
        if self._was:
            gc.enable()


def decode_response(body: bytes) -> list[RawTrace]:
    """The traces of an /api/traces body, spans still raw; raises msgspec.DecodeError on bad JSON."""
    return _response.decode(body).data or []


_trace = msgspec.json.Decoder(RawTrace)


def decode_response_bounded(body: bytes, counts: dict[str, int]) -> list[RawTrace] | None:
    """Like decode_response, but a trace nested too deeply to decode is skipped and counted in
    counts["trace_too_deep"], and one of the wrong shape (a field of another type) in counts["trace_malformed"];
    None when the body has no `data` list (not an /api/traces answer)."""
    body = body.removeprefix(b"\xef\xbb\xbf")
    shape: msgspec.ValidationError | None = None
    try:
        return _response.decode(body).data
    except RecursionError:
        pass
    except msgspec.ValidationError as exc:
        # One trace of the wrong shape used to fail the whole answer, and the same window was asked again and
        # failed again, for good: the other traces are decoded one by one instead.
        shape = exc
    from observe.traces.nesting import split_traces

    parts, skipped, found = split_traces(body)
    if skipped:
        counts["trace_too_deep"] = counts.get("trace_too_deep", 0) + skipped
    if not found:
        if shape is not None:
            raise shape
        raise msgspec.DecodeError("JSON nested too deeply, and no `data` list of traces found")
    out = []
    for part in parts:
        try:
            out.append(_trace.decode(part))
        except (RecursionError, msgspec.DecodeError):
            counts["trace_malformed"] = counts.get("trace_malformed", 0) + 1
    return out


def decode_spans_or_skip(trace: RawTrace, default_rate: float, name_of: Any, counts: dict[str, int]) -> list[Span]:
    """decode_spans, but a trace whose spans cannot be decoded (nested too deeply, malformed) is counted in
    counts["trace_too_deep"] or counts["trace_malformed"] and yields no spans."""
    try:
        return decode_spans(trace, default_rate, name_of, counts)
    except RecursionError:
        counts["trace_too_deep"] = counts.get("trace_too_deep", 0) + 1
    except msgspec.DecodeError:
        counts["trace_malformed"] = counts.get("trace_malformed", 0) + 1
    return []


def decode_services(body: bytes) -> list[str]:
    """The service names of an /api/services body."""
    return msgspec.json.decode(body, type=ServicesResponse).data or []


class TagValues:
    """The tags pairing and aggregation read, found in one span's raw tag bytes."""

    __slots__ = ("canonical", "db_name", "db_system", "error", "http_status", "istio_namespace", "kind", "messaging",
                 "otel_status", "peer_service", "sampler_param", "sampler_type")

    def __init__(self) -> None:
        self.kind: str | None = None
        self.http_status: Any = None
        self.error: Any = None
        self.otel_status: Any = None
        self.sampler_type: Any = None
        self.sampler_param: Any = None
        self.canonical: Any = None
        self.istio_namespace: Any = None
        self.peer_service: Any = None
        self.db_name: Any = None
        self.db_system: Any = None
        self.messaging: Any = None

    def peers(self) -> Naming:
        """Node, namespace, peer name and connection type from the naming tags."""
        def text(v: Any) -> str:
            return v if isinstance(v, str) else ""
        peer = text(self.peer_service) or text(self.db_name) or text(self.db_system) or text(self.messaging)
        conn = CONN_DATABASE if text(self.db_system) or text(self.db_name) else \
            CONN_MESSAGING if text(self.messaging) else CONN_NONE
        naming = (text(self.canonical), text(self.istio_namespace), peer, conn)
        return NO_NAMING if naming == NO_NAMING else naming


_TAG_KEYS = {"span.kind": "kind", "http.status_code": "http_status", "error": "error",
             "otel.status_code": "otel_status", "sampler.type": "sampler_type", "sampler.param": "sampler_param",
             "istio.canonical_service": "canonical", "istio.namespace": "istio_namespace",
             "peer.service": "peer_service", "db.name": "db_name", "db.system": "db_system",
             "messaging.system": "messaging"}
_COMPACT_START = re.compile(rb'\[\{"key":"')
# One pass over Jaeger's compact layout finds every wanted tag. A string value with an escape does
# not match the first alternative and leaves the second one empty, which sends us to the fallback.
# The pattern starts at `key":"`, not at its opening quote: quotes are everywhere in JSON, so the
# regex engine's prefix scan is about 15 % faster on a rarer first byte; in compact JSON the bytes
# `key":"` only occur as the `"key":` field (a quote inside a string value is escaped).
# Factored by first letter: Python's regex engine tries alternatives one by one at every key.
_WANTED_KEYS = (rb"s(?:pan\.kind|ampler\.(?:type|param))|http\.status_code|error|otel\.status_code"
                rb"|istio\.(?:canonical_service|namespace)|peer\.service|db\.(?:name|system)|messaging\.system")
# The hot path takes each hit as one bytes object (no groups: fewer objects per span, and the hits are
# only the key of the cache below). A new combination is split into key and values by _TAG_PARTS,
# the same pattern with groups, which matches each hit exactly as the search did.
_WANTED = re.compile(rb'key":"(?:' + _WANTED_KEYS + rb')",(?:"type":"\w+",)?"value":(?:"[^"\\]*"|[^,}"]*)')
_TAG_PARTS = re.compile(rb'key":"(' + _WANTED_KEYS + rb')",(?:"type":"\w+",)?"value":(?:"([^"\\]*)"|([^,}"]*))')


def read_tags(raw_tags: msgspec.Raw) -> TagValues:
    """The wanted tags of one span, decoded fully (the slow path, for layouts the fast path refuses)."""
    out = TagValues()
    for tag in _tags.decode(raw_tags):
        field = _TAG_KEYS.get(tag.key)
        if field is not None:
            setattr(out, field, tag.value)
    return out


_KIND_BYTES = {k.encode(): v for k, v in _KINDS.items()}
# kind, status, sampling rate from probabilistic sampler tags, and the naming tags
SpanTags = tuple[int, int, float | None, Naming]
TagHits = tuple[bytes, ...]
# Spans of one mesh repeat a handful of wanted-tag combinations (kind x status code), so the result
# of reading the regex hits is kept per combination: one dict lookup instead of the loop below.
_HITS_CACHE_MAX = 4096
_hits_cache: dict[TagHits, SpanTags] = {}


def _read_hits(hits: TagHits) -> SpanTags | None:
    """Kind, status and sampling rate from the regex hits; None when a value needs the full decoder."""
    kind = KIND_UNSPECIFIED
    error = ok = False
    sampler_type = sampler_param = b""
    names = TagValues()
    for hit in hits:
        parts = _TAG_PARTS.match(hit)
        if parts is None:  # cannot happen: every hit matched this pattern in the search
            return None
        key, text, other = parts.groups()
        value = text or other
        if not value:
            return None  # an empty or escaped string: let the full decoder read it
        if key == b"span.kind":
            kind = _KIND_BYTES.get(value, KIND_UNSPECIFIED)
        elif key == b"http.status_code":
            if len(value) == 3 and value[:1] == b"5":
                error = True
        elif key == b"error":
            error = error or value == b"true"
        elif key == b"otel.status_code":
            error = error or value == b"ERROR"
            ok = value == b"OK"
        elif key == b"sampler.type":
            sampler_type = value
        elif key == b"sampler.param":
            sampler_param = value
        else:
            setattr(names, _TAG_KEYS[key.decode()], value.decode())
    rate = None
    if sampler_type == b"probabilistic" and sampler_param:
        rate = _rate(sampler_param)
    out = kind, STATUS_ERROR if error else STATUS_OK if ok else STATUS_UNSET, rate, names.peers()
    if len(_hits_cache) >= _HITS_CACHE_MAX:
        _hits_cache.clear()  # distinct combinations are few; start over rather than grow
    _hits_cache[hits] = out
    return out


def _fast_tags(raw: msgspec.Raw) -> SpanTags | None:
    """Kind, status and sampling rate by one regex pass over compact tags; None to ask the slow path."""
    if _COMPACT_START.match(raw) is None:
        return None
    hits = tuple(_WANTED.findall(raw))
    return _hits_cache.get(hits) or _read_hits(hits)


# A probabilistic sampler below one in a million is not a rate we can scale counts by: its weight 1/rate would
# make one span outweigh every other (1e-300 gives 1e300, 5e-324 an infinite weight). Such spans are counted.
MIN_RATE = 1e-6
OUT_OF_RANGE = -1.0  # _rate's answer for a sampler.param that is there but not a usable rate


def _rate(value: Any) -> float | None:
    try:
        rate = float(value)
    except (TypeError, ValueError, OverflowError):
        return OUT_OF_RANGE
    return rate if MIN_RATE <= rate <= 1.0 else OUT_OF_RANGE


def _slow_tags(raw: msgspec.Raw) -> SpanTags:
    tags = read_tags(raw)
    kind = _KINDS.get(tags.kind, KIND_UNSPECIFIED) if isinstance(tags.kind, str) else KIND_UNSPECIFIED
    error = tags.error is True or tags.error == "true" or tags.otel_status == "ERROR"
    if not error and tags.http_status is not None:
        try:
            error = int(tags.http_status) >= 500
        except (TypeError, ValueError):
            pass
    status = STATUS_ERROR if error else STATUS_OK if tags.otel_status == "OK" else STATUS_UNSET
    rate = _rate(tags.sampler_param) if tags.sampler_type == "probabilistic" else None
    return kind, status, rate, tags.peers()


def _no_name(name: str) -> None:
    return None


def decode_spans(trace: RawTrace, default_rate: float, name_of: Any = None,
                 counts: dict[str, int] | None = None) -> list[Span]:
    """Every span of a raw trace as a Span record.

    The weight corrects counts for sampling: 1 / rate, where the rate comes from the root span's
    probabilistic sampler tags, else from the configured default. `name_of` normalises operation names.
    """
    jspans = _spans.decode(trace.spans)
    services = {pid: p.serviceName for pid, p in _processes.decode(trace.processes).items()}
    trace_id = trace.traceID
    out: list[Span] = []
    root_rate: float | None = None
    default_weight = 1.0 / default_rate
    compact, findall, cached = _COMPACT_START.match, _WANTED.findall, _hits_cache.get
    names_get = name_of.cached if isinstance(name_of, NameNormaliser) else _no_name
    for js in jspans:
        raw = js.tags
        # _fast_tags inlined: this loop runs once per span.
        tags = (cached(hits := tuple(findall(raw))) or _read_hits(hits)) if compact(raw) is not None else None
        kind, status, rate, naming = tags or _slow_tags(raw)
        if rate == OUT_OF_RANGE:
            if counts is not None:
                counts["sampler_param_out_of_range"] = counts.get("sampler_param_out_of_range", 0) + 1
            rate = None
        refs = js.references
        if refs:
            parent = refs[0].spanID
            if len(refs) > 1:
                parent = next((r.spanID for r in refs if r.refType == "CHILD_OF"), parent)
        else:
            parent = ""
            root_rate = rate or root_rate
        service = services.get(js.processID) or (js.process.serviceName if js.process else "") or "unknown"
        op = js.operationName
        name = op if name_of is None else names_get(op) or name_of(op)
        out.append(Span(js.spanID, parent, trace_id, service, name, kind, js.startTime, js.duration, status,
                        default_weight, naming))
    if root_rate is not None:  # rare: the root span carried its sampler's rate
        for span in out:
            span.weight = 1.0 / root_rate
    return out


def iter_spans(body: bytes, default_rate: float = 1.0, name_of: Any = None) -> Iterator[Span]:
    """Every span of an /api/traces body (no dedupe); for offline analysis and tests."""
    for trace in decode_response(body):
        yield from decode_spans(trace, default_rate, name_of)
