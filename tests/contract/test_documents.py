"""The documents themselves: the derived file is valid, marked, and still needed."""

from __future__ import annotations

import yaml
from openapi_spec_validator import validate

from flora_emulator.routes import ROUTES
from tests.contract import spec


def test_the_derived_document_is_valid_openapi_and_marked_as_derived() -> None:
    text = spec.DERIVED.read_text(encoding="utf-8")
    document = yaml.safe_load(text)
    validate(document)
    assert "DERIVED, NOT OFFICIAL" in text.splitlines()[0]
    assert "official TypeScript SDK 0.10.0" in text
    assert "not part of the 1.6.0 spec" in document["info"]["title"]
    operations = {(m.upper(), p) for p, item in document["paths"].items() for m in item}
    assert operations == {("POST", "/assets"), ("GET", "/technique-runs")}
    assert set(document["paths"]["/assets"]["post"]["requestBody"]["content"]) == {
        "multipart/form-data"
    }


def test_the_official_documents_still_lack_what_the_derived_one_adds(
    contract: spec.Contract,
) -> None:
    """If FLORA publishes these operations, this fails: use theirs and drop the derived ones."""
    official = [o for o in contract.operations if not o.derived]
    [create] = [o for o in official if (o.method, o.template) == ("POST", "/assets")]
    assert create.request_types == frozenset({"application/json"})
    assert not [o for o in official if o.template == "/technique-runs"]


def test_every_emulated_operation_is_in_a_document(contract: spec.Contract) -> None:
    for route in ROUTES:
        if route.kind != "api":
            continue
        for method in route.methods:
            assert contract.find(method, route.template), (method, route.template)
    assert len({(o.method, o.template) for o in contract.operations}) >= 12


def test_the_official_documents_all_parse(contract: spec.Contract) -> None:
    for path in sorted(spec.OFFICIAL_DIR.glob("*.yml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert document["servers"] == [{"url": "https://app.flora.ai/api/v1"}]
