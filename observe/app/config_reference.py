"""Generates docs/configuration.md from the config model, so the reference cannot drift from the code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from observe.app.config import Config
from observe.config import iter_fields

HEADER = (
    "<!-- Generated from observe/app/config.py and the section models by `observe config reference > "
    "docs/configuration.md`. Do not edit by hand. -->\n"
)


def _type_name(ann: Any) -> str:
    text = getattr(ann, "__name__", None) if isinstance(ann, type) else None
    return text or str(ann).replace("typing.", "").replace("pathlib.", "")


def _default(value: Any) -> str:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    if isinstance(value, Path):
        value = str(value)
    return json.dumps(value, default=str)


def _env(key: str) -> str:
    return "OBSERVE_" + key.upper().replace(".", "__")


def _limits() -> str:
    from observe import config_input as ci
    from observe.config import MAX_ERRORS

    return (
        "\n## Limits on input\n\n"
        "The same loader reads the config file (`observe config check`, `ship`, `export`, `up`, `traces pull`) and "
        "the render values (`observe render --values`). It refuses, with exit code 2 and what to write instead:\n\n"
        f"- a file larger than {ci.MAX_FILE_BYTES // 2**20} MiB, or one that is not UTF-8 text (a UTF-8 byte order "
        "mark is accepted);\n"
        f"- mappings and lists nested deeper than {ci.MAX_DEPTH} levels;\n"
        f"- YAML anchors and aliases (`&a`, `*a`) that expand to more than {ci.MAX_NODES:,} values "
        "(an alias bomb);\n"
        "- a key written twice in one mapping (`<<` merge keys may be overridden, as YAML intends);\n"
        "- an `OBSERVE_*` value for a list or mapping field that is not JSON: "
        "`OBSERVE_LOGS__PATHS='[\"/var/log/*.log\"]'`, not `/var/log/*.log`;\n"
        "- `elasticsearch.url` that is not an `http://` or `https://` URL with a host, or that carries "
        "`user:password@`.\n\n"
        f"Error messages echo a value cut to about {ci.ECHO_CHARS} characters, mask URL credentials as `***@`, "
        f"and list at most {MAX_ERRORS} problems.\n"
    )


def render_reference() -> str:
    """The Markdown reference: one table per section."""
    out = [HEADER, "# Configuration reference\n\n",
           "The config is one YAML file (`--config FILE` or `OBSERVE_CONFIG`). Every key can be overridden by an "
           "environment variable: `OBSERVE_` + the key path in upper case, with `__` between levels "
           "(e.g. `OBSERVE_SERVICE__PORT=9700`). Unknown keys are errors, in the file and in the environment: "
           "`OBSERVE_<SECTION>__...` with a section that does not exist, and a section's key joined by one "
           "underscore (`OBSERVE_SERVICE_PORT`), stop the command too, since they would be ignored; other "
           "`OBSERVE_*` names (secrets, tools' switches such as `OBSERVE_NATIVE`) are not the config's. "
           "`observe config check FILE` validates a file and exits with code 2 naming the key, the value and what "
           "was expected.\n\n",
           "Secrets never go in the file: the Elasticsearch password comes from `OBSERVE_ES_PASSWORD` or "
           "`elasticsearch.password_file`, the API key from `OBSERVE_ES_API_KEY` or `elasticsearch.api_key_file`.\n",
           _limits()]
    section = None
    for key, ann, default, desc in iter_fields(Config):
        top = key.split(".", 1)[0]
        if top != section:
            section = top
            out.append(f"\n## `{top}`\n\n| key | type | default | env | description |\n|---|---|---|---|---|\n")
        desc = desc.replace("|", "\\|")
        typ = _type_name(ann).replace("|", "\\|")
        out.append(f"| `{key}` | `{typ}` | `{_default(default)}` | `{_env(key)}` | {desc} |\n")
    return "".join(out)
