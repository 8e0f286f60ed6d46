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


def render_reference() -> str:
    """The Markdown reference: one table per section."""
    out = [HEADER, "# Configuration reference\n\n",
           "The config is one YAML file (`--config FILE` or `OBSERVE_CONFIG`). Every key can be overridden by an "
           "environment variable: `OBSERVE_` + the key path in upper case, with `__` between levels "
           "(e.g. `OBSERVE_SERVICE__PORT=9700`). Unknown keys are errors. `observe config check FILE` validates a "
           "file and exits with code 2 naming the key, the value and what was expected.\n\n",
           "Secrets never go in the file: the Elasticsearch password comes from `OBSERVE_ES_PASSWORD` or "
           "`elasticsearch.password_file`, the API key from `OBSERVE_ES_API_KEY` or `elasticsearch.api_key_file`.\n"]
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
