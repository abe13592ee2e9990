"""Exports the case model as JSON Schema draft 2020-12 (what pydantic generates)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gateway.case.model import Case

SCHEMA_ID = "https://rathaus-gateway.de/schemas/case/case-v1.schema.json"
SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "case" / "case-v1.schema.json"


def case_json_schema() -> dict[str, Any]:
    schema = Case.model_json_schema(mode="serialization")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


def render() -> str:
    return json.dumps(case_json_schema(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def write(path: Path = SCHEMA_PATH) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(), encoding="utf-8")
    return path
