"""Reading YAML that a tired user or an attacker wrote: bounded in size, depth and alias expansion, UTF-8 only,
no duplicate keys, and echoed values cut short (config files, render values, the same loader everywhere)."""

from __future__ import annotations

import re
import reprlib
from pathlib import Path
from typing import Any

import yaml

MAX_FILE_BYTES = 4 * 2**20  # a config or values file; real ones are a few KiB
MAX_DEPTH = 64  # nesting of mappings and sequences
MAX_NODES = 100_000  # nodes after alias expansion; a 537-byte alias bomb expands to billions
ECHO_CHARS = 200  # longest value echoed back in an error message


class InputError(ValueError):
    """The text cannot be used as config; the message says what to write instead."""


_USERINFO = re.compile(r"(?<=//)[^/@\s'\"]*@")


def clip(text: str, limit: int = ECHO_CHARS) -> str:
    """At most `limit` characters, with any URL userinfo (`user:pass@`) masked."""
    text = _USERINFO.sub("***@", text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


_short = reprlib.Repr()
_short.maxstring = ECHO_CHARS
_short.maxother = ECHO_CHARS
_short.maxlevel = 3
for _attr in ("maxlist", "maxtuple", "maxdict", "maxset", "maxfrozenset", "maxdeque", "maxarray"):
    setattr(_short, _attr, 8)


# What re.compile raises on a pattern it refuses: re.error, and OverflowError for a repeat count past 2**32 and
# RecursionError for nesting deeper than the interpreter's stack, which used to reach users as tracebacks.
REGEX_ERRORS = (re.error, OverflowError, RecursionError)


def regex_error(exc: BaseException) -> str:
    """Why re.compile refused a pattern, in words."""
    return "groups nested too deeply" if isinstance(exc, RecursionError) else str(exc)


def echo(value: Any) -> str:
    """repr(value) cut to about ECHO_CHARS, at a cost bounded whatever the value's size."""
    return clip(_short.repr(value))


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys and nesting past MAX_DEPTH while composing."""

    _depth = 0
    what = "the YAML"

    def compose_node(self, parent: Any, index: Any) -> Any:  # type: ignore[override]
        self._depth += 1
        if self._depth > MAX_DEPTH:
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
            raise InputError(f"{self.what} nests deeper than {MAX_DEPTH} levels at line {mark.line + 1}; "
                             "a config is a few levels of mappings and lists")
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
            try:
                first = seen.get(key)
            except TypeError:
                continue  # an unhashable key: the base class reports it
            if first is not None:
                raise InputError(f"{self.what}: duplicate key {echo(key)} at line {key_node.start_mark.line + 1} "
                                 f"(first at line {first}); write each key once per mapping")
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def _expanded_size(root: yaml.Node) -> int:
    """Nodes in the tree with every alias expanded, counted without expanding (shared nodes are memoised)."""
    memo: dict[int, int] = {}

    def size(node: yaml.Node) -> int:
        known = memo.get(id(node))
        if known is not None:
            return known
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        memo[id(node)] = total
        return total

    return size(root)


def loads(text: str | bytes, what: str) -> Any:
    """Parse one YAML document within the bounds; raises InputError naming `what` and what to write instead."""
    if isinstance(text, bytes):
        if len(text) > MAX_FILE_BYTES:
            raise InputError(f"{what} is {len(text)} bytes; expected a YAML file under {MAX_FILE_BYTES} bytes")
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InputError(f"{what} is not UTF-8 text (byte 0x{text[exc.start]:02x} at offset {exc.start}); "
                             "save it as UTF-8") from None
    try:
        loader = _BoundedLoader(text)  # checks the characters: a NUL is a ReaderError here
    except yaml.YAMLError as exc:
        raise InputError(f"{what} is not valid YAML: {clip(str(exc))}") from None
    loader.what = what
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        nodes = _expanded_size(node)
        if nodes > MAX_NODES:
            raise InputError(f"{what} expands to {nodes} values through YAML aliases (&anchor/*alias); "
                             f"expected at most {MAX_NODES}: write the values out or use fewer aliases")
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or exc
        raise InputError(f"{what} is not valid YAML{where}: {clip(str(problem))}") from None
    except RecursionError:
        raise InputError(f"{what} nests too deeply; a config is a few levels of mappings and lists") from None
    finally:
        loader.dispose()


def load_file(path: Path, what: str) -> Any:
    """Read and parse a YAML file (FileNotFoundError and other OSErrors pass through)."""
    with path.open("rb") as f:
        data = f.read(MAX_FILE_BYTES + 1)
    return loads(data, f"{what} {path}")


def _complex(annotation: Any) -> str | None:
    """'list' or 'mapping' when pydantic-settings reads an env value of this type as JSON, else None."""
    import typing

    from pydantic import BaseModel

    origin = typing.get_origin(annotation)
    if origin in (list, set, tuple, frozenset):
        return "list"
    if origin is dict or (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
        return "mapping"
    for arg in typing.get_args(annotation) if origin is not None else ():
        kind = _complex(arg)
        if kind:
            return kind
    return None


def env_error(model: Any, environ: Any, fallback: str, prefix: str = "OBSERVE_") -> str:
    """The message for an OBSERVE_* value that is not the JSON its field needs: name, value, what to write."""
    import json

    from pydantic_settings import NoDecode

    for name, value in sorted(environ.items()):
        if not name.upper().startswith(prefix):
            continue
        node: Any = model
        parts = name[len(prefix):].lower().split("__")
        annotation: Any = None
        for part in parts:
            fields = getattr(node, "model_fields", None)
            if not fields or part not in fields:
                annotation = None
                break
            annotation = fields[part].annotation
            if NoDecode in fields[part].metadata:
                annotation = None  # the field reads its env value itself (e.g. comma-separated URLs)
                break
            node = annotation
        kind = _complex(annotation) if annotation is not None else None
        if kind is None:
            continue
        try:
            json.loads(value)
            continue
        except ValueError:
            pass
        except RecursionError:
            return f"{name}: the JSON nests too deeply; expected a short JSON {kind}"
        example = json.dumps([value]) if kind == "list" else '{"key": "value"}'
        return (f"{name}: got {echo(value)}, expected a JSON {kind} (the field {'.'.join(parts)} holds a {kind}), "
                f"e.g. {name}='{clip(example)}'")
    return f"an OBSERVE_* environment value cannot be read: {clip(fallback, 400)}"


def check_base_url(value: str, section: str) -> str:
    """An http(s) base URL without credentials in it ("" stays "": not configured)."""
    from urllib.parse import urlsplit

    if not value:
        return value
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("an http:// or https:// URL with a host, e.g. https://es:9200")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"a URL without user:password@ in it; put the user in {section}.username and the password in "
                         f"{section}.password_file (a mounted Secret) or OBSERVE_ES_PASSWORD (the chart's "
                         f"{section}.passwordSecret)")
    return value


def split_url_list(value: str) -> Any:
    """A list of URLs written as one string (an env value): a JSON list, or URLs separated by commas."""
    import json

    text = value.strip()
    if text.startswith("["):
        try:
            return json.loads(text)
        except ValueError:
            raise ValueError(f"a JSON list of URLs or comma-separated URLs; {echo(value)} is not valid JSON") from None
        except RecursionError:
            raise ValueError("a short JSON list of URLs") from None
    return [part.strip() for part in text.split(",") if part.strip()]


def env_name_errors(model: Any, environ: Any, prefix: str = "OBSERVE_") -> list[str]:
    """OBSERVE_* names that look like config overrides but would be ignored: a section that does not exist
    (`OBSERVE_LOGZ__SINK`), or a section's key joined by one underscore instead of two (`OBSERVE_SERVICE_PORT`).
    Other OBSERVE_* names are not the config's (secrets such as OBSERVE_ES_PASSWORD, tools' own switches) and pass."""
    sections = sorted(getattr(model, "model_fields", {}))
    errors = []
    for name in sorted(environ):
        if not name.upper().startswith(prefix):
            continue
        rest = name[len(prefix):].lower()
        head, nested, _ = rest.partition("__")
        if nested:
            if head not in sections:
                errors.append(f"{name}: unknown section {head!r}; OBSERVE_<SECTION>__<KEY> takes one of: "
                              f"{', '.join(sections)}")
            continue
        for section in sections:
            if rest.startswith(section + "_"):
                errors.append(f"{name}: levels are joined by two underscores: "
                              f"{prefix}{section.upper()}__{rest[len(section) + 1:].upper()}")
                break
    return errors
