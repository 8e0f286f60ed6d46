"""The chart's metadata, values file and schema agree with each other and with the package."""

from __future__ import annotations

import json
import tomllib
from typing import Any

import jsonschema
import pytest
import yaml

from observe.app import chart_values_reference

CHART = chart_values_reference.chart_dir()
REPO = CHART.parents[1]


def load_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((CHART / "values.schema.json").read_text())
    return schema


def leaves(values: Any, prefix: str = "") -> list[str]:
    """Dotted paths of every key in values.yaml, down to empty maps and scalars."""
    if not isinstance(values, dict) or not values:
        return [prefix.rstrip(".")]
    out: list[str] = []
    for key, value in values.items():
        out += [f"{prefix}{key}"] if key == "config" else leaves(value, f"{prefix}{key}.")
    return out


def test_chart_version_and_app_version_equal_the_package_version() -> None:
    package = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    meta = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert meta["appVersion"] == package
    assert meta["version"] == package
    assert meta["kubeVersion"].startswith(">=")


def test_values_file_satisfies_the_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(load_schema())
    jsonschema.validate(yaml.safe_load((CHART / "values.yaml").read_text()), load_schema())


def test_every_values_key_is_in_the_schema_and_described() -> None:
    schema = load_schema()
    defs = schema["$defs"]
    for path in leaves(yaml.safe_load((CHART / "values.yaml").read_text())):
        node: dict[str, Any] = schema
        for part in path.split("."):
            if "$ref" in node:
                node = defs[node["$ref"].rsplit("/", 1)[1]]
            if "properties" not in node and node is not schema:
                break  # a Kubernetes type (securityContext, resources...): the API server validates it
            assert part in node.get("properties", {}), f"values.yaml key {path} is not in values.schema.json"
            node = node["properties"][part]
            assert node.get("description"), f"{path} has no description in values.schema.json"


def test_schema_refuses_unknown_keys_naming_them() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    values["shipper"]["enabeld"] = True
    with pytest.raises(jsonschema.ValidationError, match="enabeld"):
        jsonschema.validate(values, load_schema())


def test_schema_config_sections_follow_the_config_models() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    values["shipper"]["config"] = {"batch_max_events": 0}
    with pytest.raises(jsonschema.ValidationError, match=r"0 is less than the minimum"):
        jsonschema.validate(values, load_schema())


def test_generated_schema_part_and_values_reference_are_fresh() -> None:
    assert chart_values_reference.main(["--check"]) == 0, (
        "helm/observe/values.schema.json or docs/values.md is stale: run `python -m observe.app.chart_values_reference`"
    )


def test_templates_folder_has_notes_and_a_test_hook() -> None:
    assert (CHART / "templates" / "NOTES.txt").is_file()
    assert list((CHART / "templates" / "tests").glob("*.yaml"))


def test_values_comments_say_why_the_shipper_adds_a_capability() -> None:
    text = (CHART / "values.yaml").read_text()
    assert "CAP_DAC_READ_SEARCH" in text and "why" in text.lower()


def test_docs_values_reference_lists_every_top_level_key() -> None:
    docs = (REPO / "docs" / "values.md").read_text()
    for key in load_schema()["properties"]:
        assert f"| `{key}` |" in docs
