"""Mapping engine: every transform, JMESPath edge cases, targets, time zones, units,
validation messages naming lines, export and import."""

import copy
import json

import pytest

from mfg_integration.errors import MappingError, PermanentError
from mfg_integration.mapping import (
    BUILTIN_UNITS,
    FORMAT,
    TRANSFORM_TYPES,
    CompiledMapping,
    _compile_expression,
    apply_mapping,
    builtin_convert,
    compile_mapping,
    export_definition,
    import_definition,
    validate,
)

VENDOR_MES = {
    "format": "mfg-integration-mapping/1",
    "name": "Vendor MES progress",
    "event_type": "work_order.progress_reported",
    "direction": "inbound",
    "lines": [
        {
            "target": "work_order.reference",
            "source": "wo.number",
            "transforms": [
                {"type": "required"},
                {"type": "xref", "model": "mrp.workorder", "create": False},
            ],
        },
        {
            "target": "quantity.value",
            "source": "qty_g",
            "transforms": [
                {"type": "uom", "from": "g", "to": "kg"},
                {"type": "round", "digits": 3},
            ],
        },
        {"target": "quantity.uom", "transforms": [{"type": "constant", "value": "kg"}]},
        {
            "target": "status",
            "source": "st",
            "transforms": [
                {
                    "type": "value_map",
                    "map": [["R", "running"], ["P", "paused"]],
                    "default": "other",
                }
            ],
        },
        {
            "target": "reported_at",
            "source": "ts",
            "transforms": [
                {
                    "type": "datetime",
                    "input_format": "%d.%m.%Y %H:%M",
                    "input_tz": "Europe/Berlin",
                    "output_tz": "UTC",
                    "output_format": "iso",
                }
            ],
        },
        {
            "target": "note",
            "transforms": [
                {"type": "template", "template": "Line {line} shift {shift}"}
            ],
            "source": "{line: line, shift: shift}",
        },
    ],
}

VENDOR_PAYLOAD = {
    "wo": {"number": "WO-17/3"},
    "qty_g": 12345.6789,
    "st": "R",
    "ts": "14.07.2026 08:15",
    "line": 4,
    "shift": "B",
}


def one_line(transforms, source="v", target="out"):
    """A definition with one line reading ``v`` into ``out``."""
    line = {"target": target, "transforms": transforms}
    if source is not None:
        line["source"] = source
    return {"name": "test", "lines": [line]}


def run(transforms, value, **kw):
    """Apply one line to ``{"v": value}`` and return the mapped value."""
    compiled = compile_mapping(one_line(transforms))
    return compiled.apply({"v": value}, **kw)["out"]


def failure(transforms, value, **kw):
    """Apply one line expecting a MappingError; return it."""
    compiled = compile_mapping(one_line(transforms))
    with pytest.raises(MappingError) as info:
        compiled.apply({"v": value}, **kw)
    return info.value


def problems_of(definition, **kw):
    return validate(definition, **kw)


def invalid(definition, **kw):
    with pytest.raises(MappingError) as info:
        compile_mapping(definition, **kw)
    return info.value


class Resolver:
    """A resolver that records its calls and answers from a table."""

    def __init__(self, table=None):
        self.table = table if table is not None else {}
        self.calls = []

    def __call__(self, model, external_id, create, external_model):
        self.calls.append((model, external_id, create, external_model))
        if external_id in self.table:
            return self.table[external_id]
        if create:
            return f"new:{external_id}"
        return None


# -- the realistic example ----------------------------------------------------------


def test_vendor_mes_example_gives_a_canonical_progress_event():
    resolver = Resolver({"WO-17/3": "WH/MO/00042/WO-3"})
    compiled = compile_mapping(VENDOR_MES)
    assert compiled.name == "Vendor MES progress"
    assert compiled.event_type == "work_order.progress_reported"
    assert compiled.direction == "inbound"
    assert len(compiled) == 6
    result = compiled.apply(VENDOR_PAYLOAD, resolver=resolver)
    assert result == {
        "work_order": {"reference": "WH/MO/00042/WO-3"},
        "quantity": {"value": 12.346, "uom": "kg"},
        "status": "running",
        # 14 July is summer time in Berlin: UTC+2
        "reported_at": "2026-07-14T06:15:00Z",
        "note": "Line 4 shift B",
    }
    assert resolver.calls == [("mrp.workorder", "WO-17/3", False, None)]
    assert json.loads(json.dumps(result)) == result


def test_vendor_mes_example_in_winter_and_with_unknown_status():
    payload = dict(VENDOR_PAYLOAD, ts="05.01.2026 23:30", st="X", qty_g="500")
    result = compile_mapping(VENDOR_MES).apply(
        payload, resolver=Resolver({"WO-17/3": 7})
    )
    assert result["reported_at"] == "2026-01-05T22:30:00Z"
    assert result["status"] == "other"
    assert result["quantity"] == {"value": 0.5, "uom": "kg"}
    assert result["work_order"] == {"reference": 7}


def test_vendor_mes_example_names_the_failing_line():
    compiled = compile_mapping(VENDOR_MES)
    with pytest.raises(MappingError) as info:
        compiled.apply({"qty_g": 1}, resolver=Resolver())
    error = info.value
    assert error.detail == "Line 1 (work_order.reference): a value is required"
    assert error.errors == [{"pointer": "/lines/0", "message": error.detail}]
    assert isinstance(error, PermanentError)
    problem = error.to_problem()
    assert problem["status"] == 422
    assert problem["type"].endswith("mapping-error")
    assert problem["errors"][0]["pointer"] == "/lines/0"

    with pytest.raises(MappingError) as info:
        compiled.apply(VENDOR_PAYLOAD, resolver=Resolver())
    assert info.value.detail == (
        "Line 1 (work_order.reference): transform 2 (xref): no mrp.workorder found "
        'for external id "WO-17/3"'
    )


def test_payload_is_never_mutated_and_the_result_shares_nothing():
    payload = {"wo": {"number": "WO-1", "ops": [{"n": 1}]}, "v": [1, 2]}
    original = copy.deepcopy(payload)
    definition = {
        "lines": [
            {"target": "copy", "source": "wo"},
            {"target": "list", "source": "v"},
            {
                "target": "upper",
                "source": "wo.number",
                "transforms": [{"type": "lowercase"}],
            },
        ]
    }
    result = apply_mapping(definition, payload)
    assert payload == original
    result["copy"]["ops"][0]["n"] = 99
    result["copy"]["number"] = "changed"
    result["list"].append(3)
    assert payload == original
    assert result["upper"] == "wo-1"


def test_definition_is_not_mutated_and_constants_are_fresh_each_time():
    definition = one_line([{"type": "constant", "value": {"a": [1]}}], source=None)
    original = copy.deepcopy(definition)
    compiled = compile_mapping(definition)
    assert definition == original
    first = compiled.apply({})
    first["out"]["a"].append(2)
    assert compiled.apply({}) == {"out": {"a": [1]}}
    definition["lines"][0]["transforms"][0]["value"] = "changed"
    assert compiled.apply({}) == {"out": {"a": [1]}}


# -- JMESPath sources ----------------------------------------------------------------


def test_missing_paths_and_nulls_give_none():
    definition = {
        "lines": [
            {"target": "missing", "source": "a.b.c"},
            {"target": "null", "source": "n"},
            {"target": "on_scalar", "source": "s.x"},
            {"target": "index_out", "source": "items[5]"},
            {"target": "no_source"},
            {"target": "empty_source", "source": "  "},
            {"target": "null_source", "source": None},
        ]
    }
    payload = {"n": None, "s": "text", "items": [1]}
    assert apply_mapping(definition, payload) == {
        "missing": None,
        "null": None,
        "on_scalar": None,
        "index_out": None,
        "no_source": None,
        "empty_source": None,
        "null_source": None,
    }


def test_arrays_projections_and_functions():
    payload = {
        "items": [
            {"code": "A", "qty": 2},
            {"code": "B", "qty": 3},
            {"qty": 5},
            {"code": None},
        ],
        "empty": [],
    }
    definition = {
        "lines": [
            {"target": "codes", "source": "items[*].code"},
            {"target": "joined", "source": "join(',', items[*].code)"},
            {"target": "count", "source": "length(items)"},
            {"target": "total", "source": "sum(items[*].qty)"},
            {"target": "big", "source": "items[?qty > `2`].qty"},
            {"target": "first", "source": "items[0].code"},
            {"target": "last", "source": "items[-1].qty"},
            {"target": "none", "source": "empty[*].code"},
            {"target": "literal", "source": '`"kg"`'},
            {"target": "raw", "source": "'raw text'"},
            {"target": "whole", "source": "@"},
            {"target": "pipe", "source": "items[*].code | [0]"},
        ]
    }
    result = apply_mapping(definition, payload)
    assert result["codes"] == ["A", "B"]
    assert result["joined"] == "A,B"
    assert result["count"] == 4
    assert result["total"] == 10
    assert result["big"] == [3, 5]
    assert result["first"] == "A"
    assert result["last"] is None
    assert result["none"] == []
    assert result["literal"] == "kg"
    assert result["raw"] == "raw text"
    assert result["whole"] == payload
    assert result["pipe"] == "A"


def test_source_runtime_failure_names_the_line():
    compiled = compile_mapping(
        {"lines": [{"target": "ok"}, {"target": "n", "source": "length(v)"}]}
    )
    assert compiled.apply({"v": "abc"}) == {"ok": None, "n": 3}
    with pytest.raises(MappingError) as info:
        compiled.apply({"v": 5})
    assert info.value.detail.startswith("Line 2 (n): the source failed:")
    assert "length()" in info.value.detail
    assert info.value.errors[0]["pointer"] == "/lines/1"


@pytest.mark.parametrize(
    "source, fragment",
    [
        ("a[", "incomplete"),
        ("foo..bar", "column 5"),
        ("`x", "Unclosed ` delimiter"),
        ("a | | b", "invalid token"),
        ("nope(a)", "unknown function nope()"),
        ("join(',')", "join() with 1 argument(s) instead of 2"),
        ("not_null()", "instead of at least 1"),
    ],
)
def test_invalid_jmespath_is_reported_on_the_line_and_source_pointer(source, fragment):
    definition = {"lines": [{"target": "a"}, {"target": "b", "source": source}]}
    problems = problems_of(definition)
    assert len(problems) == 1
    assert problems[0]["pointer"] == "/lines/1/source"
    assert problems[0]["message"].startswith("Line 2 (b): the source ")
    assert fragment in problems[0]["message"]
    error = invalid(definition)
    assert error.detail == problems[0]["message"]
    assert error.errors == problems


def test_source_must_be_text():
    problems = problems_of({"lines": [{"target": "a", "source": 5}]})
    assert problems == [
        {
            "pointer": "/lines/0/source",
            "message": "Line 1 (a): the source must be a text (a JMESPath "
            "expression) or null",
        }
    ]


def test_expressions_are_compiled_once_and_cached():
    text = "cache_probe_unique.field_xyz"
    before = _compile_expression.cache_info()
    compile_mapping({"lines": [{"target": "a", "source": text}]})
    compile_mapping({"lines": [{"target": "b", "source": text}]})
    after = _compile_expression.cache_info()
    assert after.misses == before.misses + 1
    assert after.hits >= before.hits + 1
    assert _compile_expression(text) is _compile_expression(text)


# -- targets -------------------------------------------------------------------------


def test_numeric_index_targets_build_lists():
    definition = {
        "lines": [
            {"target": "items.0.code", "source": "a"},
            {"target": "items.0.qty", "source": "b"},
            {"target": "items.1.code", "source": "c"},
            {"target": "matrix.0.1", "source": "a"},
            {"target": "sparse.2", "source": "a"},
        ]
    }
    result = apply_mapping(definition, {"a": "X", "b": 2, "c": "Y"})
    assert result == {
        "items": [{"code": "X", "qty": 2}, {"code": "Y"}],
        "matrix": [[None, "X"]],
        "sparse": [None, None, "X"],
    }


def test_index_targets_out_of_order_fill_the_gaps():
    definition = {
        "lines": [
            {"target": "items.1.code", "source": "b"},
            {"target": "items.0.code", "source": "a"},
        ]
    }
    assert apply_mapping(definition, {"a": 1, "b": 2}) == {
        "items": [{"code": 1}, {"code": 2}]
    }


def test_null_values_are_written():
    assert apply_mapping({"lines": [{"target": "a.b", "source": "x"}]}, {}) == {
        "a": {"b": None}
    }


@pytest.mark.parametrize(
    "targets, line, fragment",
    [
        (["a", "a"], 2, "is already set by line 1"),
        (["a.b", "x", "a.b"], 3, "is already set by line 1"),
        (["a", "a.b"], 2, "is under a, which line 1 sets"),
        (["a.b", "a.b.c.d"], 2, "is under a.b, which line 1 sets"),
        (["a.b", "a"], 2, "is a path that line 1 writes into"),
        (["items.0", "items.code"], 2, "uses items differently from line 1"),
        (["items.code", "items.0.x"], 2, "which uses it as an object"),
        (["a.0.b", "a.x"], 2, "which uses it as a list"),
    ],
)
def test_target_conflicts_name_the_later_line(targets, line, fragment):
    definition = {"lines": [{"target": target} for target in targets]}
    problems = problems_of(definition)
    assert len(problems) == 1, problems
    assert problems[0]["pointer"] == f"/lines/{line - 1}/target"
    assert problems[0]["message"].startswith(f"Line {line} ({targets[line - 1]}):")
    assert fragment in problems[0]["message"]


def test_compatible_targets_are_accepted():
    targets = ["a.b", "a.c", "a.d.e", "items.0.x", "items.0.y", "items.3", "z"]
    assert problems_of({"lines": [{"target": target} for target in targets]}) == []


@pytest.mark.parametrize(
    "target, fragment",
    [
        ("", "non-empty dotted path"),
        (5, "non-empty dotted path"),
        ("a..b", 'segment ""'),
        ("a.b-c", 'segment "b-c"'),
        ("a.01", 'segment "01"'),
        ("a.10000", 'segment "10000"'),
        ("a[0]", 'segment "a[0]"'),
        ("0.a", "must start with a name"),
        ("a.", 'segment ""'),
        ("a b", 'segment "a b"'),
    ],
)
def test_invalid_targets(target, fragment):
    problems = problems_of({"lines": [{"target": target}]})
    assert len(problems) == 1
    assert problems[0]["pointer"] == "/lines/0/target"
    assert problems[0]["message"].startswith("Line 1")
    assert fragment in problems[0]["message"]


def test_missing_target():
    problems = problems_of({"lines": [{"source": "a"}]})
    assert problems == [
        {
            "pointer": "/lines/0/target",
            "message": "Line 1: the target must be a non-empty dotted path",
        }
    ]


def test_target_under_an_invalid_line_is_still_checked():
    problems = problems_of(
        {
            "lines": [
                {"target": "a", "transforms": [{"type": "nope"}]},
                {"target": "a.b"},
            ]
        }
    )
    assert [p["pointer"] for p in problems] == [
        "/lines/0/transforms/0/type",
        "/lines/1/target",
    ]


# -- constant, default, required -----------------------------------------------------


def test_constant_replaces_any_value():
    assert run([{"type": "constant", "value": "kg"}], 5) == "kg"
    assert run([{"type": "constant", "value": None}], 5) is None
    assert run([{"type": "constant", "value": [1, {"a": 2}]}], None) == [1, {"a": 2}]


def test_default_applies_to_none_only():
    assert run([{"type": "default", "value": "x"}], None) == "x"
    assert run([{"type": "default", "value": "x"}], 0) == 0
    assert run([{"type": "default", "value": "x"}], "") == ""
    assert run([{"type": "default", "value": "x"}], False) is False
    compiled = compile_mapping(
        one_line([{"type": "default", "value": 3}], source="a.b")
    )
    assert compiled.apply({}) == {"out": 3}


def test_required():
    assert run([{"type": "required"}], 0) == 0
    assert run([{"type": "required"}], "") == ""
    error = failure([{"type": "default", "value": None}, {"type": "required"}], None)
    assert error.detail == "Line 1 (out): a value is required"
    assert error.errors == [
        {"pointer": "/lines/0", "message": "Line 1 (out): a value is required"}
    ]


def test_constant_and_default_need_a_value():
    problems = problems_of(one_line([{"type": "constant"}, {"type": "default"}]))
    assert [p["pointer"] for p in problems] == [
        "/lines/0/transforms/0/value",
        "/lines/0/transforms/1/value",
    ]
    assert problems[0]["message"] == (
        "Line 1 (out): transform 1 (constant): parameter 'value' is required"
    )


def test_constant_must_be_json():
    problems = problems_of(one_line([{"type": "constant", "value": float("nan")}]))
    assert problems[0]["message"] == (
        "Line 1 (out): transform 1 (constant): parameter 'value': must be a "
        "finite number"
    )
    problems = problems_of(one_line([{"type": "constant", "value": {1: 2}}]))
    assert "text keys" in problems[0]["message"]
    problems = problems_of(one_line([{"type": "constant", "value": object()}]))
    assert "JSON value" in problems[0]["message"]


# -- value_map ----------------------------------------------------------------------


STATUS = [["R", "running"], ["P", "paused"], [1, "one"], [None, "none"], [True, "yes"]]


def test_value_map_matches_by_json_equality():
    transform = [{"type": "value_map", "map": STATUS, "strict": False}]
    assert run(transform, "R") == "running"
    assert run(transform, "P") == "paused"
    assert run(transform, 1) == "one"
    assert run(transform, 1.0) == "one"
    assert run(transform, "1") == "1"  # text "1" is not the number 1
    assert run(transform, None) == "none"
    assert run(transform, True) == "yes"
    assert run(transform, "r") == "r"
    assert run(transform, [1]) == [1]
    assert run(transform, {"a": 1}) == {"a": 1}


def test_value_map_true_and_one_differ():
    transform = [{"type": "value_map", "map": [[1, "one"]], "strict": False}]
    assert run(transform, True) is True
    transform = [{"type": "value_map", "map": [[True, "yes"]], "strict": False}]
    assert run(transform, 1) == 1


def test_value_map_default_even_null():
    transform = {"type": "value_map", "map": [["R", "running"]], "default": "other"}
    assert run([transform], "X") == "other"
    assert run([transform], None) == "other"
    assert run([dict(transform, default=None)], "X") is None
    assert run([dict(transform, default={"a": 1})], "X") == {"a": 1}


def test_value_map_strict_error_names_line_and_value():
    transform = [{"type": "value_map", "map": [["R", "running"]]}]
    error = failure(transform, "1")
    assert error.detail == 'Line 1 (out): transform 1 (value_map): no mapping for "1"'
    error = failure(transform, 1)
    assert error.detail == "Line 1 (out): transform 1 (value_map): no mapping for 1"


def test_value_map_validation():
    def check(params):
        problems = problems_of(one_line([dict({"type": "value_map"}, **params)]))
        return [p["message"] for p in problems]

    assert check({"map": [["a", 1], ["a", 2]]}) == [
        "Line 1 (out): transform 1 (value_map): parameter 'map': entry 2: \"a\" is "
        "already mapped by entry 1"
    ]
    assert "already mapped" in check({"map": [[1, "x"], [1.0, "y"]]})[0]
    assert check({"map": [["1", "x"], [1, "y"], [True, "z"]]}) == []
    assert "entry 1 must be a [from, to] pair" in check({"map": [["a"]]})[0]
    assert "'from' must be a text" in check({"map": [[["a"], 1]]})[0]
    assert "must be a list of [from, to] pairs" in check({"map": {"a": 1}})[0]
    assert "must be true or false" in check({"map": [], "strict": "yes"})[0]
    assert "either 'map' or 'table'" in check({})[0]
    assert "either 'map' or 'table'" in check({"map": [], "table": "t"})[0]


def test_value_map_shared_tables():
    definition = one_line([{"type": "value_map", "table": "mes_status"}])
    problems = problems_of(definition)
    assert problems == [
        {
            "pointer": "/lines/0/transforms/0/table",
            "message": "Line 1 (out): transform 1 (value_map): unknown value map "
            '"mes_status"',
        }
    ]
    assert problems_of(definition, known_value_maps={"mes_status"}) == []
    bad = problems_of(definition, known_value_maps={"mes_status": [["a", 1], ["a", 2]]})
    assert 'value map "mes_status": entry 2' in bad[0]["message"]
    tables = {"mes_status": [["R", "running"]]}
    compiled = compile_mapping(definition, value_maps=tables)
    assert compiled.apply({"v": "R"}) == {"out": "running"}
    as_object = compile_mapping(definition, value_maps={"mes_status": {"R": "run"}})
    assert as_object.apply({"v": "R"}) == {"out": "run"}
    assert invalid(definition).errors == problems
    assert export_definition(compiled)["lines"][0]["transforms"][0] == {
        "type": "value_map",
        "table": "mes_status",
        "strict": True,
    }


# -- xref ----------------------------------------------------------------------------


def test_xref_calls_the_resolver():
    resolver = Resolver({"WO-1": 42})
    transform = [{"type": "xref", "model": "mrp.workorder"}]
    assert run(transform, "WO-1", resolver=resolver) == 42
    assert resolver.calls == [("mrp.workorder", "WO-1", False, None)]


def test_xref_passes_create_and_external_model():
    resolver = Resolver()
    transform = [
        {
            "type": "xref",
            "model": "product.product",
            "create": True,
            "external_model": "article",
        }
    ]
    assert run(transform, 17, resolver=resolver) == "new:17"
    assert resolver.calls == [("product.product", "17", True, "article")]


def test_xref_none_from_resolver_names_line_and_external_id():
    error = failure(
        [{"type": "xref", "model": "res.partner"}], "SUP-9", resolver=Resolver()
    )
    assert error.detail == (
        'Line 1 (out): transform 1 (xref): no res.partner found for external id "SUP-9"'
    )


def test_xref_without_resolver():
    error = failure([{"type": "xref", "model": "res.partner"}], "SUP-9")
    assert "Line 1 (out)" in error.detail
    assert "needs a cross-reference resolver" in error.detail


def test_xref_null_passes_and_bad_ids_fail():
    resolver = Resolver()
    assert run([{"type": "xref", "model": "m"}], None, resolver=resolver) is None
    assert resolver.calls == []
    for value in (True, 1.5, [1], {"a": 1}):
        error = failure([{"type": "xref", "model": "m"}], value, resolver=resolver)
        assert "an external id must be a text or an integer" in error.detail


def test_xref_resolver_errors():
    def refusing(*args):
        raise ValueError("external id has a bad checksum")

    error = failure([{"type": "xref", "model": "m"}], "x", resolver=refusing)
    assert error.detail == (
        "Line 1 (out): transform 1 (xref): external id has a bad checksum"
    )

    def mapping_error(*args):
        raise MappingError("creation is disabled for this system")

    error = failure([{"type": "xref", "model": "m"}], "x", resolver=mapping_error)
    assert error.detail.endswith("creation is disabled for this system")

    def database_down(*args):
        raise ConnectionError("database is down")

    compiled = compile_mapping(one_line([{"type": "xref", "model": "m"}]))
    with pytest.raises(ConnectionError):
        compiled.apply({"v": "x"}, resolver=database_down)


def test_xref_validation():
    problems = problems_of(
        one_line(
            [
                {"type": "xref"},
                {"type": "xref", "model": "", "create": "no"},
                {"type": "xref", "model": "m", "external_model": 3, "other": 1},
            ]
        )
    )
    assert [p["pointer"] for p in problems] == [
        "/lines/0/transforms/0/model",
        "/lines/0/transforms/1/model",
        "/lines/0/transforms/1/create",
        "/lines/0/transforms/2/other",
        "/lines/0/transforms/2/external_model",
    ]
    assert problems[3]["message"] == (
        'Line 1 (out): transform 3 (xref): unknown parameter "other" '
        "(allowed: model, create, external_model)"
    )


# -- uom -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, from_unit, to_unit, expected",
    [
        (1500, "g", "kg", 1.5),
        ("2500", "g", "kg", 2.5),
        (1, "lb", "kg", 0.45359237),
        (10, "lb", "kg", 4.5359237),
        (16, "oz", "lb", 1.0),
        (1250, "mm", "m", 1.25),
        (1, "in", "mm", 25.4),
        (3, "ft", "in", 36.0),
        (2.5, "t", "kg", 2500.0),
        (1, "kg", "mg", 1000000.0),
        (1500, "ml", "L", 1.5),
        (1, "m3", "L", 1000.0),
        (90, "min", "h", 1.5),
        (3600, "s", "h", 1.0),
        (1, "h", "s", 3600.0),
        (3, "Dozens", "Units", 36.0),
        (7, "kg", "kg", 7.0),
        (0.1, "kg", "g", 100.0),
    ],
)
def test_builtin_conversions(value, from_unit, to_unit, expected):
    transform = [{"type": "uom", "from": from_unit, "to": to_unit}]
    result = run(transform, value)
    assert isinstance(result, float)
    assert result == expected


def test_builtin_conversion_is_exact():
    # 0.1 kg -> g is 100.0 exactly, not 100.00000000000001
    assert builtin_convert(0.1, "kg", "g") == 100.0
    assert builtin_convert(1, "s", "min") == 1 / 60
    assert set(BUILTIN_UNITS) >= {"g", "kg", "t", "mg", "lb", "oz", "mm", "cm", "m"}


def test_uom_cross_category_and_unknown_units_at_validation():
    problems = problems_of(one_line([{"type": "uom", "from": "g", "to": "m"}]))
    assert problems == [
        {
            "pointer": "/lines/0/transforms/0/to",
            "message": "Line 1 (out): transform 1 (uom): cannot convert g (mass) to "
            "m (length)",
        }
    ]
    problems = problems_of(one_line([{"type": "uom", "from": "gram", "to": "Box"}]))
    assert [p["pointer"] for p in problems] == [
        "/lines/0/transforms/0/from",
        "/lines/0/transforms/0/to",
    ]
    assert 'unknown unit "gram"' in problems[0]["message"]


def test_uom_with_known_units_from_odoo():
    definition = one_line([{"type": "uom", "from": "Box of 6", "to": "Units"}])
    odoo_units = {"Units", "Box of 6", "kg", "g"}
    assert problems_of(definition, known_units=odoo_units) == []
    problems = problems_of(definition, known_units={"kg"})
    assert len(problems) == 2
    compiled = compile_mapping(definition, known_units=odoo_units)
    calls = []

    def converter(value, from_unit, to_unit):
        calls.append((value, from_unit, to_unit))
        return value * 6

    assert compiled.apply({"v": 2}, uom_converter=converter) == {"out": 12.0}
    assert compiled.apply({"v": "3"}, uom_converter=converter) == {"out": 18.0}
    assert calls == [(2, "Box of 6", "Units"), (3, "Box of 6", "Units")]
    # without the Odoo converter, the built-in table does not know the unit
    with pytest.raises(MappingError) as info:
        compiled.apply({"v": 2})
    assert info.value.detail == (
        'Line 1 (out): transform 1 (uom): unknown unit "Box of 6"'
    )


def test_uom_cross_category_at_apply_time():
    compiled = compile_mapping(
        one_line([{"type": "uom", "from": "kg", "to": "m"}]), known_units={"kg", "m"}
    )
    with pytest.raises(MappingError) as info:
        compiled.apply({"v": 1})
    assert info.value.detail == (
        "Line 1 (out): transform 1 (uom): cannot convert kg (mass) to m (length)"
    )


def test_custom_converter_is_used_instead_of_the_table():
    calls = []

    def converter(value, from_unit, to_unit):
        calls.append((value, from_unit, to_unit))
        return 0.5

    assert (
        run([{"type": "uom", "from": "g", "to": "kg"}], 12.5, uom_converter=converter)
        == 0.5
    )
    assert calls == [(12.5, "g", "kg")]


def test_custom_converter_errors():
    def refusing(value, from_unit, to_unit):
        raise MappingError(f"{from_unit} and {to_unit} are not in the same category")

    error = failure(
        [{"type": "uom", "from": "g", "to": "kg"}], 1, uom_converter=refusing
    )
    assert error.detail == (
        "Line 1 (out): transform 1 (uom): g and kg are not in the same category"
    )
    error = failure(
        [{"type": "uom", "from": "g", "to": "kg"}], 1, uom_converter=lambda *a: "x"
    )
    assert 'returned "x", not a number' in error.detail


def test_uom_value_errors():
    transform = [{"type": "uom", "from": "g", "to": "kg"}]
    assert run(transform, None) is None
    for value in ("abc", True, [1], "nan", "inf"):
        error = failure(transform, value)
        assert error.detail.startswith("Line 1 (out): transform 1 (uom): ")
        assert "number" in error.detail
    with pytest.raises(ValueError):
        builtin_convert(1, "kg", "parsec")
    with pytest.raises(ValueError):
        builtin_convert(10**400, "t", "mg")


# -- datetime ------------------------------------------------------------------------


def dt(value, **params):
    return run([dict({"type": "datetime"}, **params)], value)


def dt_failure(value, **params):
    return failure([dict({"type": "datetime"}, **params)], value)


def test_iso_inputs():
    assert dt("2026-03-01T10:00:00Z") == "2026-03-01T10:00:00Z"
    assert dt("2026-03-01T10:00:00+01:00") == "2026-03-01T09:00:00Z"
    assert dt("2026-03-01T10:00:00-0500") == "2026-03-01T15:00:00Z"
    assert dt("2026-03-01 10:00") == "2026-03-01T10:00:00Z"
    assert dt("2026-03-01") == "2026-03-01T00:00:00Z"
    assert dt("2026-03-01T10:00:00.5Z") == "2026-03-01T10:00:00.500000Z"
    assert dt("2026-03-01T10:00:00.1234567Z") == "2026-03-01T10:00:00.123456Z"
    assert dt("2026-03-01t10:00:00z") == "2026-03-01T10:00:00Z"


def test_naive_iso_input_uses_input_tz_and_aware_input_ignores_it():
    assert dt("2026-01-15T08:00:00", input_tz="Europe/Berlin") == "2026-01-15T07:00:00Z"
    assert dt("2026-07-15T08:00:00", input_tz="Europe/Berlin") == "2026-07-15T06:00:00Z"
    assert (
        dt("2026-07-15T08:00:00Z", input_tz="Europe/Berlin") == "2026-07-15T08:00:00Z"
    )


def test_output_time_zone_and_formats():
    assert (
        dt("2026-07-15T06:00:00Z", output_tz="Europe/Berlin")
        == "2026-07-15T08:00:00+02:00"
    )
    assert (
        dt("2026-01-15T06:00:00Z", output_tz="America/New_York")
        == "2026-01-15T01:00:00-05:00"
    )
    # London in winter is UTC+0 but not UTC: the offset is written, not Z
    assert (
        dt("2026-01-15T06:00:00Z", output_tz="Europe/London")
        == "2026-01-15T06:00:00+00:00"
    )
    assert dt("2026-01-15T06:00:00Z", output_tz="Etc/UTC") == "2026-01-15T06:00:00Z"
    assert (
        dt(
            "2026-07-15T06:00:00Z",
            output_tz="Europe/Berlin",
            output_format="%d.%m.%Y %H:%M %Z",
        )
        == "15.07.2026 08:00 CEST"
    )
    assert dt("1970-01-01T00:00:10Z", output_format="epoch") == 10
    assert dt("1970-01-01T00:00:10.25Z", output_format="epoch") == 10.25
    assert dt("1970-01-01T00:00:10Z", output_format="epoch_ms") == 10000
    assert dt("1969-12-31T23:59:59Z", output_format="epoch") == -1


def test_epoch_inputs():
    assert dt(1784016000, input_format="epoch") == "2026-07-14T08:00:00Z"
    assert dt("1784016000", input_format="epoch") == "2026-07-14T08:00:00Z"
    assert dt(1784016000.5, input_format="epoch") == "2026-07-14T08:00:00.500000Z"
    assert dt(1784016000123, input_format="epoch_ms") == "2026-07-14T08:00:00.123000Z"
    assert (
        dt(1784016000, input_format="epoch", output_tz="Europe/Berlin")
        == "2026-07-14T10:00:00+02:00"
    )
    # an epoch is UTC by definition: input_tz does not apply
    assert dt(0, input_format="epoch", input_tz="Asia/Tokyo") == "1970-01-01T00:00:00Z"
    assert dt(1784016000, input_format="epoch", output_format="epoch") == 1784016000


def test_epoch_input_errors():
    for value in (True, "abc", [1], 10**30):
        error = dt_failure(value, input_format="epoch")
        assert error.detail.startswith("Line 1 (out): transform 1 (datetime): ")


def test_strptime_inputs():
    assert (
        dt("14.07.2026 08:15", input_format="%d.%m.%Y %H:%M", input_tz="Europe/Berlin")
        == "2026-07-14T06:15:00Z"
    )
    assert (
        dt(
            "2026-07-14 08:15 +0300",
            input_format="%Y-%m-%d %H:%M %z",
            input_tz="Europe/Berlin",
        )
        == "2026-07-14T05:15:00Z"
    )
    error = dt_failure("2026-07-14", input_format="%d.%m.%Y")
    assert error.detail == (
        'Line 1 (out): transform 1 (datetime): "2026-07-14" does not match the '
        'format "%d.%m.%Y"'
    )


def test_datetime_value_errors():
    assert dt(None) is None
    error = dt_failure("yesterday")
    assert error.detail == (
        'Line 1 (out): transform 1 (datetime): "yesterday" is not an ISO 8601 date/time'
    )
    assert "not a valid date/time" in dt_failure("2026-02-30T10:00:00").detail
    assert "invalid offset" in dt_failure("2026-02-03T10:00:00+25:00").detail
    assert "is not a date/time text" in dt_failure(12).detail


@pytest.mark.parametrize(
    "local, zone",
    [
        ("2026-03-29T02:30:00", "Europe/Berlin"),
        ("2026-03-29T02:00:00", "Europe/Berlin"),
        ("2026-03-08T02:30:00", "America/New_York"),
    ],
)
def test_dst_gap_is_refused(local, zone):
    error = dt_failure(local, input_tz=zone)
    assert error.detail.startswith("Line 1 (out): transform 1 (datetime): ")
    assert f"does not exist in {zone}" in error.detail
    # even with an explicit choice for folds
    error = dt_failure(local, input_tz=zone, ambiguous="earlier")
    assert f"does not exist in {zone}" in error.detail


def test_times_around_the_gap_exist():
    zone = "Europe/Berlin"
    assert dt("2026-03-29T01:59:59", input_tz=zone) == "2026-03-29T00:59:59Z"
    assert dt("2026-03-29T03:00:00", input_tz=zone) == "2026-03-29T01:00:00Z"


def test_dst_gap_with_strptime_format():
    error = dt_failure(
        "29.03.2026 02:30", input_format="%d.%m.%Y %H:%M", input_tz="Europe/Berlin"
    )
    assert "2026-03-29 02:30:00 does not exist in Europe/Berlin" in error.detail


@pytest.mark.parametrize(
    "local, zone, earlier, later",
    [
        (
            "2026-10-25T02:30:00",
            "Europe/Berlin",
            "2026-10-25T00:30:00Z",
            "2026-10-25T01:30:00Z",
        ),
        (
            "2026-11-01T01:30:00",
            "America/New_York",
            "2026-11-01T05:30:00Z",
            "2026-11-01T06:30:00Z",
        ),
    ],
)
def test_dst_fold_is_ambiguous_unless_told(local, zone, earlier, later):
    error = dt_failure(local, input_tz=zone)
    assert f"is ambiguous in {zone}" in error.detail
    assert '"ambiguous"' in error.detail
    assert error.errors[0]["pointer"] == "/lines/0"
    assert dt(local, input_tz=zone, ambiguous="earlier") == earlier
    assert dt(local, input_tz=zone, ambiguous="later") == later


def test_fold_round_trip_to_local_time():
    assert (
        dt("2026-10-25T00:30:00Z", output_tz="Europe/Berlin")
        == "2026-10-25T02:30:00+02:00"
    )
    assert (
        dt("2026-10-25T01:30:00Z", output_tz="Europe/Berlin")
        == "2026-10-25T02:30:00+01:00"
    )


def test_datetime_validation():
    def check(**params):
        definition = one_line([dict({"type": "datetime"}, **params)])
        return [(p["pointer"], p["message"]) for p in problems_of(definition)]

    assert check() == []
    assert check(input_format="epoch_ms", output_format="%Y-%m-%dT%H:%M:%S.%f%z") == []
    assert check(input_tz="Mars/Olympus") == [
        (
            "/lines/0/transforms/0/input_tz",
            "Line 1 (out): transform 1 (datetime): parameter 'input_tz': unknown "
            'time zone "Mars/Olympus"',
        )
    ]
    assert check(output_tz="../etc/passwd")[0][0] == "/lines/0/transforms/0/output_tz"
    assert "unsupported directive %Q" in check(input_format="%Q")[0][1]
    assert "unsupported directive %" in check(output_format="%Y%")[0][1]
    assert (
        '"iso", "epoch", "epoch_ms" or a % format'
        in check(output_format="isoformat")[0][1]
    )
    assert "must be one of" in check(ambiguous="first")[0][1]
    assert "non-empty text" in check(input_format=5)[0][1]


# -- round and number ----------------------------------------------------------------


def test_round_half_up_uses_decimal_arithmetic():
    # binary floating point would give 2.67 (2.675 is 2.67499999... as a double)
    assert run([{"type": "round", "digits": 2}], 2.675) == 2.68
    assert run([{"type": "round", "digits": 2}], 1.005) == 1.01
    assert run([{"type": "round", "digits": 3}], "12.3456") == 12.346
    assert run([{"type": "round"}], 2.5) == 3
    assert run([{"type": "round"}], -2.5) == -3
    assert run([{"type": "round", "digits": 2}], 5) == 5.0


def test_round_half_even():
    transform = {"type": "round", "mode": "half_even"}
    assert run([transform], 2.5) == 2
    assert run([transform], 3.5) == 4
    assert run([dict(transform, digits=2)], 2.675) == 2.68
    assert run([dict(transform, digits=2)], 2.665) == 2.66


def test_round_result_types_and_negative_digits():
    result = run([{"type": "round"}], 7.4)
    assert result == 7 and isinstance(result, int)
    result = run([{"type": "round", "digits": 1}], 7)
    assert result == 7.0 and isinstance(result, float)
    result = run([{"type": "round", "digits": -2}], 1250)
    assert result == 1300 and isinstance(result, int)
    assert run([{"type": "round", "digits": 2}], 1e300) == 1e300


def test_round_errors():
    for value in ("abc", True, [1.5], "nan"):
        error = failure([{"type": "round"}], value)
        assert error.detail.startswith("Line 1 (out): transform 1 (round): ")
    assert run([{"type": "round"}], None) is None
    error = failure([{"type": "round", "digits": 2}], 10**400)
    assert "too large" in error.detail
    problems = problems_of(
        one_line(
            [
                {"type": "round", "digits": 1.5},
                {"type": "round", "digits": True},
                {"type": "round", "digits": 16},
                {"type": "round", "mode": "up"},
            ]
        )
    )
    assert len(problems) == 4
    assert problems[0]["message"] == (
        "Line 1 (out): transform 1 (round): parameter 'digits': must be an integer "
        "from -9 to 15"
    )


def test_number():
    transform = [{"type": "number"}]
    result = run(transform, "17")
    assert result == 17 and isinstance(result, int)
    assert run(transform, " -42 ") == -42
    assert run(transform, "1.5") == 1.5
    result = run(transform, "1e3")
    assert result == 1000.0 and isinstance(result, float)
    assert run(transform, ".5") == 0.5
    assert run(transform, 3) == 3
    assert run(transform, 2.5) == 2.5
    assert run(transform, None) is None
    for value in ("abc", "1,5", "", "nan", "inf", "1e999", "1_000", True, [1], {}):
        error = failure(transform, value)
        assert error.detail.startswith("Line 1 (out): transform 1 (number): ")


# -- string, case and strip ------------------------------------------------------------


def test_string():
    transform = [{"type": "string"}]
    assert run(transform, 17) == "17"
    assert run(transform, 1.5) == "1.5"
    assert run(transform, True) == "true"
    assert run(transform, False) == "false"
    assert run(transform, "x") == "x"
    assert run(transform, None) is None
    for value in ([1], {"a": 1}):
        assert "is not a scalar" in failure(transform, value).detail


def test_text_operations():
    assert run([{"type": "lowercase"}], "WO-17") == "wo-17"
    assert run([{"type": "uppercase"}], "wo-17") == "WO-17"
    assert run([{"type": "strip"}], "  WO-17 \n") == "WO-17"
    assert run([{"type": "strip"}, {"type": "uppercase"}], " a ") == "A"
    for kind in ("lowercase", "uppercase", "strip"):
        assert run([{"type": kind}], None) is None
        error = failure([{"type": kind}], 5)
        assert error.detail == f"Line 1 (out): transform 1 ({kind}): 5 is not a text"
    problems = problems_of(one_line([{"type": "strip", "chars": "x"}]))
    assert problems[0]["message"] == (
        'Line 1 (out): transform 1 (strip): unknown parameter "chars" (allowed: none)'
    )


def test_transforms_chain_in_order():
    transforms = [
        {"type": "strip"},
        {"type": "number"},
        {"type": "uom", "from": "g", "to": "kg"},
        {"type": "round", "digits": 1},
        {"type": "string"},
    ]
    assert run(transforms, " 1260 ") == "1.3"


# -- template -------------------------------------------------------------------------


def test_template_with_object_fields():
    definition = {
        "lines": [
            {
                "target": "note",
                "source": "{line: line, shift: shift, qty: qty, ok: ok, gone: gone}",
                "transforms": [
                    {
                        "type": "template",
                        "template": "L{line}/{shift} {qty:.2f} kg [{ok}] {gone}|{{x}}",
                    }
                ],
            }
        ]
    }
    result = apply_mapping(
        definition, {"line": 4, "shift": "B", "qty": 2.5, "ok": True}
    )
    assert result == {"note": "L4/B 2.50 kg [true] |{x}"}


def test_template_with_a_scalar_value():
    assert run([{"type": "template", "template": "WO {value}"}], "17/3") == "WO 17/3"
    assert run([{"type": "template", "template": "{value:>05}"}], 42) == "00042"
    assert run([{"type": "template", "template": "{value:,}"}], 1234567) == "1,234,567"
    assert run([{"type": "template", "template": "{value}"}], [1, "a"]) == '[1,"a"]'
    assert run([{"type": "template", "template": "x"}], None) is None


def test_template_runtime_errors_name_the_line():
    error = failure([{"type": "template", "template": "{line}"}], "scalar")
    assert error.detail.startswith("Line 1 (out): transform 1 (template): field {line}")
    assert "use {value}" in error.detail
    error = failure([{"type": "template", "template": "{line}"}], {"shift": 1})
    assert error.detail == (
        "Line 1 (out): transform 1 (template): the value has no field {line}"
    )
    error = failure([{"type": "template", "template": "{value:d}"}], "abc")
    assert "cannot format field {value} with ':d'" in error.detail


def test_template_dunder_names_are_plain_keys_never_attributes():
    compiled = compile_mapping(
        one_line([{"type": "template", "template": "[{__class__}]"}], source="@")
    )
    assert compiled.apply({"__class__": "plain"}) == {"out": "[plain]"}
    with pytest.raises(MappingError):
        compiled.apply({"other": 1})


@pytest.mark.parametrize(
    "template, fragment",
    [
        ("{a.__class__}", "field {a.__class__} is not allowed"),
        ("{a.b}", "field {a.b} is not allowed"),
        ("{a[0]}", "field {a[0]} is not allowed"),
        ("{value.__init__.__globals__}", "is not allowed"),
        ("{0}", "field {0} is not allowed"),
        ("{}", "positional fields {} are not allowed"),
        ("{a!r}", "conversion !r is not allowed"),
        ("{a!s}", "conversion !s is not allowed"),
        ("{a:{b}}", "format spec {a:{b}} is not allowed"),
        ("{a:999999}", "format spec {a:999999} is not allowed"),
        ("{a:.500f}", "format spec {a:.500f} is not allowed"),
        ("{a:n}", "format spec {a:n} is not allowed"),
        ("{a", "not a valid template"),
        ("a}", "not a valid template"),
        ("", "must be a non-empty text"),
    ],
)
def test_unsafe_templates_are_refused_at_validation(template, fragment):
    problems = problems_of(one_line([{"type": "template", "template": template}]))
    assert len(problems) == 1
    assert problems[0]["pointer"] == "/lines/0/transforms/0/template"
    assert problems[0]["message"].startswith(
        "Line 1 (out): transform 1 (template): parameter 'template': "
    )
    assert fragment in problems[0]["message"]


@pytest.mark.parametrize(
    "spec",
    ["", ">10", "<5", "^7", "*^9", "+.2f", "08.3f", ",", "_d", ".1%", "x", "#x", "e"],
)
def test_simple_format_specs_are_allowed(spec):
    template = "{value:" + spec + "}" if spec else "{value}"
    assert problems_of(one_line([{"type": "template", "template": template}])) == []


# -- structure validation ------------------------------------------------------------


def test_valid_definitions_have_no_problems():
    assert validate(VENDOR_MES) == []
    assert validate({"lines": []}) == []
    assert compile_mapping({"lines": []}).apply({"a": 1}) == {}


@pytest.mark.parametrize(
    "definition, pointer, fragment",
    [
        ([], "", "must be a JSON object"),
        ("text", "", "must be a JSON object"),
        ({}, "/lines", "'lines' must be a list"),
        ({"lines": {}}, "/lines", "'lines' must be a list"),
        ({"lines": [], "color": "red"}, "/color", 'unknown key "color"'),
        ({"lines": [], "format": "other/1"}, "/format", "unsupported format"),
        ({"lines": [], "direction": "sideways"}, "/direction", "inbound"),
        ({"lines": [], "name": 5}, "/name", "'name' must be a text"),
        ({"lines": [], "event_type": ""}, "/event_type", "non-empty"),
        ({"lines": [3]}, "/lines/0", "Line 1: a line must be an object"),
        (
            {"lines": [{"target": "a", "x": 1}]},
            "/lines/0/x",
            'Line 1 (a): unknown key "x"',
        ),
        (
            {"lines": [{"target": "a", "transforms": {}}]},
            "/lines/0/transforms",
            "Line 1 (a): transforms must be a list",
        ),
        (
            {"lines": [{"target": "a", "transforms": ["required"]}]},
            "/lines/0/transforms/0",
            "Line 1 (a): transform 1: a transform must be an object with a 'type'",
        ),
        (
            {"lines": [{"target": "a", "transforms": [{"type": "eval"}]}]},
            "/lines/0/transforms/0/type",
            'Line 1 (a): transform 1: unknown transform type "eval"',
        ),
    ],
)
def test_structure_problems(definition, pointer, fragment):
    problems = problems_of(definition)
    assert [p["pointer"] for p in problems] == [pointer]
    assert fragment in problems[0]["message"]


def test_all_problems_are_reported_in_line_order_and_the_first_is_the_detail():
    definition = {
        "name": 3,
        "lines": [
            {"target": "a", "source": "a["},
            {"target": "b", "transforms": [{"type": "round", "digits": "2"}]},
            {"target": "a"},
        ],
    }
    problems = problems_of(definition)
    assert [p["pointer"] for p in problems] == [
        "/name",
        "/lines/0/source",
        "/lines/1/transforms/0/digits",
        "/lines/2/target",
    ]
    error = invalid(definition)
    assert error.errors == problems
    assert error.detail == "Mapping: 'name' must be a text (and 3 more problems)"
    error = invalid({"lines": [{"target": "a"}, {"target": "b", "source": "b["}]})
    assert error.detail.startswith("Line 2 (b): the source is not a valid JMESPath")
    assert "more problem" not in error.detail


def test_pointers_escape_special_characters():
    problems = problems_of({"lines": [{"target": "a", "x/y~z": 1}]})
    assert problems[0]["pointer"] == "/lines/0/x~1y~0z"


def test_transform_types_are_all_documented():
    assert set(TRANSFORM_TYPES) == {
        "constant",
        "default",
        "required",
        "value_map",
        "xref",
        "uom",
        "datetime",
        "round",
        "number",
        "string",
        "template",
        "lowercase",
        "uppercase",
        "strip",
    }
    import mfg_integration.mapping as module

    for kind in TRANSFORM_TYPES:
        assert f"``{kind}``" in module.__doc__


# -- export and import ---------------------------------------------------------------


def test_export_fills_defaults_in_a_stable_order():
    exported = export_definition(compile_mapping(VENDOR_MES))
    assert list(exported) == [
        "format",
        "name",
        "description",
        "event_type",
        "direction",
        "lines",
    ]
    assert exported["format"] == FORMAT
    assert exported["description"] == ""
    assert exported["lines"][2] == {
        "target": "quantity.uom",
        "source": None,
        "transforms": [{"type": "constant", "value": "kg"}],
    }
    assert exported["lines"][0]["transforms"][1] == {
        "type": "xref",
        "model": "mrp.workorder",
        "create": False,
        "external_model": None,
    }
    assert exported["lines"][1]["transforms"][1] == {
        "type": "round",
        "digits": 3,
        "mode": "half_up",
    }
    assert list(exported["lines"][4]["transforms"][0]) == [
        "type",
        "input_format",
        "input_tz",
        "output_tz",
        "output_format",
        "ambiguous",
    ]
    # value_map: "default" is kept only when given, "strict" is written
    assert exported["lines"][3]["transforms"][0] == {
        "type": "value_map",
        "map": [["R", "running"], ["P", "paused"]],
        "default": "other",
        "strict": True,
    }


def test_export_is_idempotent_and_json_serialisable():
    exported = export_definition(VENDOR_MES)
    assert export_definition(exported) == exported
    assert export_definition(compile_mapping(exported)) == exported
    text = json.dumps(exported, sort_keys=False)
    assert import_definition(text) == exported
    assert import_definition(text.encode()) == exported


def test_export_does_not_alias_the_compiled_mapping():
    compiled = compile_mapping(VENDOR_MES)
    exported = compiled.export_definition()
    exported["lines"][2]["transforms"][0]["value"] = "lb"
    assert compiled.export_definition()["lines"][2]["transforms"][0]["value"] == "kg"


def test_round_trip_gives_identical_results():
    compiled = compile_mapping(VENDOR_MES)
    again = compile_mapping(import_definition(json.dumps(export_definition(compiled))))
    resolver = Resolver({"WO-17/3": 5})
    assert again.apply(VENDOR_PAYLOAD, resolver=resolver) == compiled.apply(
        VENDOR_PAYLOAD, resolver=resolver
    )


def test_import_refuses_other_formats_clearly():
    exported = export_definition(VENDOR_MES)
    with pytest.raises(MappingError) as info:
        import_definition(dict(exported, format="mfg-integration-mapping/2"))
    assert info.value.detail == (
        'Unsupported mapping format version "mfg-integration-mapping/2": this '
        "version reads 'mfg-integration-mapping/1' only"
    )
    assert info.value.errors[0]["pointer"] == "/format"
    with pytest.raises(MappingError) as info:
        import_definition(dict(exported, format="something-else"))
    assert "Not a mapping export: unknown format" in info.value.detail
    without = dict(exported)
    del without["format"]
    with pytest.raises(MappingError) as info:
        import_definition(without)
    assert "'format' marker" in info.value.detail
    with pytest.raises(MappingError) as info:
        import_definition([exported])
    assert "'format' marker" in info.value.detail
    with pytest.raises(MappingError) as info:
        import_definition("{not json")
    assert "not valid JSON" in info.value.detail


def test_import_and_export_check_the_structure_but_not_references():
    definition = dict(
        export_definition(VENDOR_MES),
        lines=[
            {"target": "a", "transforms": [{"type": "uom", "from": "Box", "to": "x"}]}
        ],
    )
    assert import_definition(definition)["lines"][0]["transforms"][0]["from"] == "Box"
    with pytest.raises(MappingError) as info:
        compile_mapping(import_definition(definition))
    assert 'unknown unit "Box"' in info.value.detail
    broken = dict(definition, lines=[{"target": "a", "transforms": [{"type": "?"}]}])
    with pytest.raises(MappingError) as info:
        import_definition(broken)
    assert info.value.errors[0]["pointer"] == "/lines/0/transforms/0/type"
    with pytest.raises(MappingError):
        export_definition({"lines": 5})


def test_apply_mapping_passes_everything_through():
    definition = one_line(
        [
            {"type": "xref", "model": "uom.uom"},
            {"type": "uom", "from": "Box", "to": "Units"},
        ]
    )
    result = apply_mapping(
        definition,
        {"v": "B6"},
        resolver=lambda *a: 2,
        uom_converter=lambda value, f, t: value * 6.0,
        known_units={"Box", "Units"},
    )
    assert result == {"out": 12.0}
    table = one_line([{"type": "value_map", "table": "t"}])
    assert apply_mapping(table, {"v": 1}, value_maps={"t": [[1, "one"]]}) == {
        "out": "one"
    }


def test_compiled_mapping_repr_and_type():
    compiled = compile_mapping(VENDOR_MES)
    assert isinstance(compiled, CompiledMapping)
    assert repr(compiled) == "<CompiledMapping 'Vendor MES progress': 6 line(s)>"
