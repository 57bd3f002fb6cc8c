"""Repair suggestions on crafted failing payloads: the expected fix comes first,
with a reason, and applying it to the mapping definition gives the expected lines."""

import pytest

from mfg_integration.mapping import apply_mapping
from mfg_integration.schemas import validate
from mfg_integration.suggestions import (
    Suggestion,
    apply_to_definition,
    enum_candidates,
    enum_value,
    failing_places,
    name_similarity,
    payload_fields,
    pointer_target,
    rank_records,
    schema_at,
    source_candidates,
    unit_candidates,
)

SCHEMA = {
    "type": "object",
    "required": ["work_order", "quantity", "state"],
    "properties": {
        "work_order": {
            "type": "object",
            "properties": {"reference": {"type": "string"}},
        },
        "quantity": {
            "type": "object",
            "required": ["value", "uom"],
            "properties": {"value": {"type": "number"}, "uom": {"type": "string"}},
        },
        "state": {"enum": ["in_progress", "done", "on_hold"]},
        "operator": {"type": "string"},
    },
}

DEFINITION = {
    "format": "mfg-integration-mapping/1",
    "name": "Vendor progress",
    "event_type": "work_order.progress_reported",
    "direction": "inbound",
    "lines": [
        {"target": "work_order.reference", "source": "wo"},
        {"target": "quantity.value", "source": "qty"},
        {"target": "quantity.uom", "source": "unit"},
        {"target": "state", "source": "status"},
        {"target": "operator", "source": "operator_name"},
    ],
}


def payloads(count=20, **changes):
    found = []
    for n in range(count):
        payload = {
            "wo": f"WO-{n}",
            "qty": n + 0.5,
            "unit": "kg",
            "status": "done",
            "operator_name": "Ana",
            "machine": {"id": "P3", "temperatureC": 61.5},
            "comments": "ok",
        }
        for key, value in changes.items():
            if value is None:
                payload.pop(key, None)
            else:
                payload[key] = value(n) if callable(value) else value
        found.append(payload)
    return found


def test_a_renamed_field_is_the_top_source_suggestion():
    # the vendor renamed qty to qtyProduced; counts are texts in some payloads
    sample = payloads(qty=None, qtyProduced=lambda n: n if n % 4 else str(n))
    top = source_candidates(
        "/data/quantity/value",
        SCHEMA,
        sample,
        used_sources=["wo", "unit", "status", "operator_name"],
    )
    assert top[0].change == {"source": "qtyProduced"}
    assert top[0].target == "quantity.value"
    assert "'qtyProduced' is named like 'quantity.value'" in top[0].reason
    assert "present in 20 of 20" in top[0].reason
    assert all(s.change["source"] != "comments" for s in top)


def test_fields_that_other_lines_read_are_not_suggested():
    sample = payloads(qty=None, quantity=lambda n: n)
    used = ["wo", "unit", "status", "operator_name", "quantity"]
    top = source_candidates("/data/quantity/value", SCHEMA, sample, used)
    assert all(s.change["source"] != "quantity" for s in top)


def test_a_field_of_the_wrong_type_is_not_suggested():
    sample = payloads(qty=None, qty_text=lambda n: f"about {n}")
    top = source_candidates("/data/quantity/value", SCHEMA, sample, ["wo"])
    assert all(s.change["source"] != "qty_text" for s in top)


def test_nested_and_odd_field_names_are_proper_jmespath():
    fields = dict(payload_fields({"a": {"b-c": [{"d": 1}]}, "e f": 2}))
    assert set(fields) == {"a", 'a."b-c"', 'a."b-c"[0]', 'a."b-c"[0].d', '"e f"'}
    sample = [{"machine": {"qty-good": 3}}]
    top = source_candidates("/data/quantity/value", SCHEMA, sample)
    assert top[0].change == {"source": 'machine."qty-good"'}
    mapped = apply_mapping(apply_to_definition(DEFINITION, top[0]), sample[0])
    assert mapped["quantity"]["value"] == 3


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("in-progress", "in_progress"),
        ("In Progress", "in_progress"),
        ("DONE", "done"),
        ("onhold", "on_hold"),
        ("on_hlod", "on_hold"),
    ],
)
def test_enum_values_spelled_otherwise(value, expected):
    top = enum_candidates("/data/state", value, SCHEMA["properties"]["state"]["enum"])
    assert top[0].change == {"from": value, "to": expected}
    assert top[0].kind == "value_map"


def test_an_unrelated_enum_value_gets_no_suggestion():
    assert enum_candidates("/data/state", "scrapped", ["in_progress", "done"]) == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("pcs", "Units"),
        ("KGS", "kg"),
        ("litre", "L"),
        ("hrs", "Hours"),
        ("Unitss", "Units"),
    ],
)
def test_unit_aliases(value, expected):
    known = ["Units", "kg", "g", "L", "Hours", "Minutes"]
    top = unit_candidates("/data/quantity/uom", value, known)
    assert top[0].change == {"from": value, "to": expected}


def test_a_unit_alias_of_a_unit_odoo_lacks_is_not_suggested():
    assert unit_candidates("/data/quantity/uom", "pcs", ["kg", "g"]) == []


def test_a_reference_matched_by_another_key():
    records = [
        (7, "[BR1002] Bracket", {"default_code": "BR1002", "name": "Bracket"}),
        (8, "[BR1003] Bracket XL", {"default_code": "BR1003", "name": "Bracket XL"}),
        (9, "Bolt M8", {"default_code": "", "name": "Bolt M8", "barcode": "BR-1002"}),
    ]
    top = rank_records("/data/product/default_code", "product", "br-1002", records)
    assert [s.change["record_id"] for s in top] == [9, 7]
    assert "its barcode 'BR-1002'" in top[0].reason
    assert top[0].title == "Bind 'br-1002' to Bolt M8"


def test_error_details_are_sorted_by_kind_of_failure():
    places = failing_places(
        [
            [{"pointer": "/data/quantity/value", "message": "is required"}],
            [
                {
                    "pointer": "/data/quantity/value",
                    "message": "None is not of type 'number'",
                },
                {
                    "pointer": "/data/state",
                    "message": "'in-progress' is not one of ['in_progress', 'done']",
                },
            ],
            [{"pointer": "/data/quantity/uom", "kind": "uom", "value": "pcs"}],
            [{"pointer": "/data/product", "kind": "product", "value": "X1"}],
            [{"pointer": "/data/product", "kind": "product", "value": "X1"}],
            None,
        ]
    )
    assert places.missing == {"/data/quantity/value"}
    assert places.values == {"/data/state": {"in-progress": 1}}
    assert places.units == {"/data/quantity/uom": {"pcs": 1}}
    assert places.references == {("/data/product", "product"): {"X1": 2}}


def test_enum_value_reads_the_validators_wording():
    assert enum_value("'a b' is not one of ['x']") == "a b"
    assert enum_value("3 is not one of [1, 2]") == 3
    assert enum_value("is required") is None
    assert enum_value("__import__('os') is not one of [1]") is None


def test_applying_a_source_suggestion_repairs_the_payloads():
    sample = payloads(qty=None, qtyProduced=lambda n: n + 1)
    before = [apply_mapping(DEFINITION, p) for p in sample]
    assert all(validate(SCHEMA, data) for data in before)
    top = source_candidates("/data/quantity/value", SCHEMA, sample, ["wo", "unit"])
    changed = apply_to_definition(DEFINITION, top[0])
    after = [apply_mapping(changed, p) for p in sample]
    assert [validate(SCHEMA, data) for data in after] == [[]] * len(sample)
    assert changed["lines"][1] == {"target": "quantity.value", "source": "qtyProduced"}
    assert DEFINITION["lines"][1]["source"] == "qty", "the original is unchanged"


def test_a_missing_line_is_added():
    suggestion = Suggestion(
        "source", "/data/comment", "comment", 0.9, "", {"source": "c"}
    )
    changed = apply_to_definition(DEFINITION, suggestion)
    assert changed["lines"][-1] == {"target": "comment", "source": "c"}


def test_value_map_pairs_are_added_to_the_lines_table():
    first = enum_candidates("/data/state", "in-progress", ["in_progress"])[0]
    second = enum_candidates("/data/state", "ON HOLD", ["on_hold"])[0]
    changed = apply_to_definition(apply_to_definition(DEFINITION, first), second)
    state = next(ln for ln in changed["lines"] if ln["target"] == "state")
    assert state["transforms"] == [
        {
            "type": "value_map",
            "map": [["in-progress", "in_progress"], ["ON HOLD", "on_hold"]],
            "strict": False,
        }
    ]
    assert apply_mapping(changed, {"status": "ON HOLD"})["state"] == "on_hold"
    # values that are not in the table pass unchanged (the table is not strict)
    assert apply_mapping(changed, {"status": "done"})["state"] == "done"


def test_a_value_to_map_needs_a_line_of_its_own():
    suggestion = enum_candidates("/data/priority", "HIGH", ["high"])[0]
    with pytest.raises(ValueError, match="No line of the mapping produces priority"):
        apply_to_definition(DEFINITION, suggestion)
    xref = rank_records("/data/p", "product", "A1", [(1, "A1", {"name": "A-1"})])[0]
    with pytest.raises(ValueError, match="does not change a mapping"):
        apply_to_definition(DEFINITION, xref)


def test_names_and_targets():
    assert name_similarity("qty", "quantity") == 1.0
    assert name_similarity("woRef", "work_order.reference") == 1.0
    assert name_similarity("comments", "quantity") < 0.35
    assert pointer_target("/data/a/0/b") == "a.0.b"
    assert pointer_target("/data") is None
    assert pointer_target("/other/a") is None
    assert schema_at(SCHEMA, "quantity.value") == {"type": "number"}
    assert schema_at(SCHEMA, "nowhere.at.all") == {}


def test_suggestions_are_deterministic():
    sample = payloads(qty=None, qtyProduced=lambda n: n, produced_qty=lambda n: n)
    runs = [
        [s.as_dict() for s in source_candidates("/data/quantity/value", SCHEMA, sample)]
        for _ in range(3)
    ]
    assert runs[0] == runs[1] == runs[2]
