"""Adding a form is a mapping file + fixtures + a catalog entry: no Python.

A new form (Sperrmüll anmelden) is added to a copy of the shipped configuration, checked with
`catalog check`, and then an application for it becomes a case over HTTP.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import httpx

from gateway.api.app import create_app
from gateway.bootstrap import Gateway
from gateway.checks import check_catalog
from gateway.config import Settings
from tests.conftest import REPO, SECRETS, TENANT, client_configs
from tests.support.servers import serve_app

MAPPING = """\
id: portal.sperrmuell-anmelden
version: 1
title: Sperrmüll zur Abholung anmelden
source:
  format: portal:sperrmuell-anmelden
  media_type: application/json
applicant:
  kind: natural_person
  given_names: {path: /antragsteller/vorname, required: true}
  family_name: {path: /antragsteller/nachname, required: true}
  address:
    street: {path: /abholort/strasse, required: true}
    house_number: {path: /abholort/hausnummer}
    postal_code: {path: /abholort/plz}
    city: {path: /abholort/ort}
fields:
  - {key: wunschtermin, label: Wunschtermin, path: /wunschtermin, type: date, required: true}
  - key: gegenstaende
    label: Gegenstände
    path: /gegenstaende
    type: group
    repeat: true
    fields:
      - {key: art, label: Art, path: /art, type: string, required: true}
      - {key: anzahl, label: Anzahl, path: /anzahl, type: integer, required: true}
  - {key: stueckzahl, label: Stückzahl gesamt, type: integer, compute: "sum(gegenstaende.anzahl)"}
warnings:
  - {when: "stueckzahl > 10", code: viele-teile, field: stueckzahl, message: Mehr als 10 Teile.}
"""

INPUT = {"antragsteller": {"vorname": "Karl", "nachname": "Beispiel"},
         "abholort": {"strasse": "Lindenstraße", "hausnummer": "3", "plz": "39517", "ort": "Tangerhütte"},
         "wunschtermin": "05.12.2026",
         "gegenstaende": [{"art": "Sofa", "anzahl": 1}, {"art": "Stuhl", "anzahl": 12}]}

CATALOG_ENTRY = """\
  - leika: "99061003001000"
    name: Sperrmüll anmelden
    mappings: [portal.sperrmuell-anmelden]
    min_trust_level: none
    channels: [portal]
    queue: abfall
"""


def add_sixth_form(root: Path) -> Settings:
    shutil.copytree(REPO / "mappings", root / "mappings")
    shutil.copytree(REPO / "schemas", root / "schemas")
    shutil.copytree(REPO / "fixtures" / "mappings", root / "fixtures" / "mappings")
    (root / "mappings" / "portal" / "sperrmuell-anmelden.yaml").write_text(MAPPING, encoding="utf-8")
    fixtures = root / "fixtures" / "mappings" / "portal.sperrmuell-anmelden"
    fixtures.mkdir()
    (fixtures / "sofa.input.json").write_text(json.dumps(INPUT), encoding="utf-8")
    catalog = root / "mappings" / "catalog" / "tangerhuette.yaml"
    catalog.write_text(catalog.read_text(encoding="utf-8") + CATALOG_ENTRY, encoding="utf-8")
    return Settings(data_dir=root / "data", mappings_dir=root / "mappings", fixtures_dir=root / "fixtures",
                    clients=client_configs(), token_signing_key="test-signing-key-0123456789abcdef0123456789")


def test_a_new_form_needs_only_data_files(tmp_path: Path) -> None:
    settings = add_sixth_form(tmp_path)
    fixtures = tmp_path / "fixtures" / "mappings" / "portal.sperrmuell-anmelden"
    assert [p.split(": ", 1)[1] for p in check_catalog(settings)] == ["fixtures without their pair: sofa"], \
        "a fixture without its expected output is reported"
    from gateway.mapping import MappingRegistry

    mapped = MappingRegistry.load(settings.mappings_dir).get("portal.sperrmuell-anmelden").apply(
        json.dumps(INPUT).encode())
    (fixtures / "sofa.expected.json").write_text(
        json.dumps(json.loads(mapped.model_dump_json()), indent=2, ensure_ascii=False, sort_keys=True) + "\n",
        encoding="utf-8")
    assert check_catalog(settings) == []

    gateway = Gateway.create(settings)
    try:
        with serve_app(create_app(gateway)) as base, httpx.Client(base_url=base, timeout=10) as client:
            token = client.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": "portal",
                                                      "client_secret": SECRETS["portal"]}).json()["access_token"]
            response = client.post("/v1/applications", headers={"Authorization": f"Bearer {token}"}, json={
                "tenant": TENANT, "service": "99061003001000", "form": "sperrmuell-anmelden",
                "submitted_at": dt.datetime.now(dt.UTC).isoformat(), "data": INPUT})
            assert response.status_code == 201, response.text
            fach = client.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": "fach",
                                                     "client_secret": SECRETS["fach"]}).json()["access_token"]
            case = client.get(f"/v1/cases/{response.json()['case_id']}",
                              headers={"Authorization": f"Bearer {fach}"}).json()
    finally:
        gateway.close()
    assert case["routing_queue"] == "abfall"
    assert case["service"]["mapping_id"] == "portal.sperrmuell-anmelden"
    fields = {f["key"]: f for f in case["form"]}
    assert fields["wunschtermin"]["value"] == "2026-12-05"
    assert fields["stueckzahl"]["value"] == 13
    assert [[i["value"] for i in item] for item in fields["gegenstaende"]["items"]] == [["Sofa", 1], ["Stuhl", 12]]
    assert [w["code"] for w in case["warnings"]] == ["viele-teile"]
