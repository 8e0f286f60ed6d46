"""Keeps the chart's values schema and docs/values.md in step with the code.

The `config:` block of each chart part is that part's section of the config file, so its schema is
generated from the section's pydantic model (a typo fails at `helm install`, naming the key). The rest of
values.schema.json is written by hand; docs/values.md is generated from the whole schema.
Run `python -m observe.app.chart_values_reference` after changing a config model or the schema.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

import observe
from observe.app.config import Config

GENERATED_KEY = "x-generated-from"
HEADER = (
    "<!-- Generated from helm/observe/values.schema.json and values.yaml by "
    "`python -m observe.app.chart_values_reference`. Do not edit by hand. -->\n"
)
# Schema definition name -> key path of the config section inside Config.
SECTIONS = {
    "configLogs": ("logs",),
    "configExportersCluster": ("exporters", "cluster"),
    "configExportersProbe": ("exporters", "probe"),
    "configExportersElasticsearch": ("exporters", "elasticsearch"),
    "configTraces": ("traces",),
}


def chart_dir() -> Path:
    """helm/observe in this checkout."""
    return Path(observe.__file__).resolve().parents[1] / "helm" / "observe"


def section_model(path: tuple[str, ...]) -> type[BaseModel] | None:
    """The pydantic model of a config section, or None when that section does not exist (yet)."""
    model: Any = Config
    for part in path:
        field = model.model_fields.get(part)
        if field is None or not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)):
            return None
        model = field.annotation
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _strip_titles(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip_titles(v) for k, v in node.items() if k != "title" or not isinstance(v, str)}
    if isinstance(node, list):
        return [_strip_titles(v) for v in node]
    return node


def config_defs() -> dict[str, Any]:
    """Schema definitions of every config section (and the models they nest), marked as generated."""
    present = {name: model for name, path in SECTIONS.items() if (model := section_model(path)) is not None}
    keys, top = models_json_schema([(m, "validation") for m in present.values()], ref_template="#/$defs/{model}")
    defs: dict[str, Any] = {}
    for name, nested in top.get("$defs", {}).items():
        defs[name] = {**_strip_titles(nested), GENERATED_KEY: "a nested config model"}
    for name, model in present.items():
        ref = keys[(model, "validation")]["$ref"].rsplit("/", 1)[1]
        target = ".".join(SECTIONS[name])
        source = f"the `{target}` config section ({model.__module__}.{model.__name__})"
        defs[name] = {"$ref": f"#/$defs/{ref}", GENERATED_KEY: source}
    for name, path in SECTIONS.items():
        if name not in defs:
            # The section's model has not landed: nothing can be set there yet.
            defs[name] = {"type": "object", "maxProperties": 0, GENERATED_KEY: f"no `{'.'.join(path)}` config section exists yet"}
    return defs


def refreshed_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with its generated definitions replaced by fresh ones; hand-written parts kept."""
    kept = {k: v for k, v in schema.get("$defs", {}).items()
            if k not in SECTIONS and not (isinstance(v, dict) and GENERATED_KEY in v)}
    fresh = config_defs()
    clash = kept.keys() & fresh.keys()
    if clash:
        raise ValueError(f"hand-written schema definitions clash with generated ones: {sorted(clash)}")
    return {**schema, "$defs": {**kept, **dict(sorted(fresh.items()))}}


def _walk(node: dict[str, Any], defs: dict[str, Any], prefix: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for key, prop in node.get("properties", {}).items():
        path = f"{prefix}{key}"
        yield path, prop
        target = prop
        if "$ref" in prop:
            name = prop["$ref"].rsplit("/", 1)[1]
            target = defs[name]
            if GENERATED_KEY in target:
                continue  # a config section: documented in docs/configuration.md
        if target.get("type") == "object" and "properties" in target:
            yield from _walk(target, defs, path + ".")


def _type(prop: dict[str, Any], defs: dict[str, Any]) -> str:
    if "$ref" in prop:
        target = defs[prop["$ref"].rsplit("/", 1)[1]]
        if GENERATED_KEY in target:
            return "config section"
        return _type(target, defs)
    if "enum" in prop:
        return " \\| ".join(json.dumps(v) for v in prop["enum"])
    if "type" in prop:
        return str(prop["type"])
    return " \\| ".join(str(alt.get("type", "?")) for alt in prop.get("anyOf", []))


def _lookup(values: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(values, dict) or part not in values:
            return None
        values = values[part]
    return values


def render_values_reference(schema: dict[str, Any], values: dict[str, Any]) -> str:
    """docs/values.md: one row per key, with its type, default (from values.yaml) and description."""
    defs = schema.get("$defs", {})
    sections = {".".join(path): name for name, path in SECTIONS.items()}
    out = [HEADER, "# Chart values reference\n\n",
           "Every key of `helm/observe/values.yaml`. The chart refuses unknown keys (`values.schema.json`), naming the "
           "key. A part's `config` block is its section of the observe config file and takes every key listed in "
           "[configuration.md](configuration.md) for that section: ",
           ", ".join(f"`{name}` is `{section}`" for section, name in sections.items()), ". ",
           "Secrets are always references to existing Secrets, never values.\n\n",
           "| key | type | default | description |\n|---|---|---|---|\n"]
    for path, prop in _walk(schema, defs, ""):
        desc = prop.get("description") or defs.get(prop.get("$ref", "").rsplit("/", 1)[-1], {}).get("description", "")
        default = json.dumps(_lookup(values, path))
        if len(default) > 60:
            default = "see values.yaml"
        cell = default.replace("|", "\\|")
        out.append(f"| `{path}` | {_type(prop, defs)} | `{cell}` | {desc.replace('|', chr(92) + '|')} |\n")
    return "".join(out)


def main(argv: list[str]) -> int:
    """Rewrite values.schema.json's generated part and docs/values.md; with --check, only report staleness."""
    check = "--check" in argv
    chart = chart_dir()
    schema_path, docs_path = chart / "values.schema.json", chart.parents[1] / "docs" / "values.md"
    schema = json.loads(schema_path.read_text())
    fresh_schema = refreshed_schema(schema)
    schema_text = json.dumps(fresh_schema, indent=2) + "\n"
    values = yaml.safe_load((chart / "values.yaml").read_text())
    docs_text = render_values_reference(fresh_schema, values)
    stale = [p for p, text in ((schema_path, schema_text), (docs_path, docs_text))
             if not p.exists() or p.read_text() != text]
    if check:
        for path in stale:
            print(f"stale: {path}; run `python -m observe.app.chart_values_reference`", file=sys.stderr)
        return 1 if stale else 0
    for path, text in ((schema_path, schema_text), (docs_path, docs_text)):
        path.write_text(text)
    print(f"wrote {schema_path} and {docs_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
