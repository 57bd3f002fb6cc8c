"""Property-based tests of the mapping engine: export → import → apply is identical,
validation never raises, apply fails only with MappingError and mutates nothing."""

import copy
import json
from datetime import datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mfg_integration.errors import MappingError
from mfg_integration.mapping import (
    TRANSFORM_TYPES,
    compile_mapping,
    export_definition,
    import_definition,
    validate,
)

SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# -- JSON values ------------------------------------------------------------------

finite_floats = st.floats(allow_nan=False, allow_infinity=False, width=64)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    finite_floats,
    st.text(max_size=8),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=6), children, max_size=4),
    ),
    max_leaves=12,
)

# -- payloads ---------------------------------------------------------------------

numeric_texts = st.one_of(
    st.integers(-5000, 5000).map(str),
    st.decimals(-5000, 5000, places=3, allow_nan=False).map(str),
)
local_times = st.datetimes(
    min_value=datetime(1971, 1, 1),
    max_value=datetime(2099, 12, 31),
)
timestamps = st.one_of(
    local_times.map(lambda moment: moment.isoformat()),
    local_times.map(lambda moment: moment.isoformat() + "Z"),
    local_times.map(lambda moment: moment.strftime("%Y-%m-%d %H:%M")),
    st.integers(0, 4_000_000_000),
    st.integers(0, 4_000_000_000_000),
    st.text(max_size=5),
)
codes = st.one_of(st.sampled_from(["R", "P", "X", "1", "", " r "]), scalars)
payloads = st.fixed_dictionaries(
    {},
    optional={
        "code": codes,
        "qty": st.one_of(st.integers(-(10**6), 10**6), finite_floats, numeric_texts),
        "ts": timestamps,
        "text": st.text(max_size=10),
        "items": st.lists(
            st.fixed_dictionaries({}, optional={"code": codes, "qty": scalars}),
            max_size=3,
        ),
        "nested": st.one_of(st.fixed_dictionaries({"k": scalars}), scalars),
        "other": json_values,
    },
)

SOURCES = [
    None,
    "code",
    "qty",
    "ts",
    "text",
    "items",
    "items[*].code",
    "items[0].qty",
    "length(items)",
    "join(',', items[*].code)",
    "nested.k",
    "nested",
    "missing.path",
    "@",
    "{code: code, qty: qty}",
    "other",
    "`42`",
]

# -- valid transforms ------------------------------------------------------------------


def _map_key(value):
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, (int, float)):
        return ("number", value)
    return (type(value).__name__, value)


map_keys = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from([1.0, 2.5, -0.5]),
    st.sampled_from(["R", "P", "X", "1", ""]),
    st.text(max_size=4),
)
pairs = st.lists(
    st.tuples(map_keys, json_values).map(list),
    max_size=5,
    unique_by=lambda p: _map_key(p[0]),
)
SAME_CATEGORY = [
    ("g", "kg"),
    ("kg", "g"),
    ("lb", "kg"),
    ("oz", "g"),
    ("t", "mg"),
    ("mm", "m"),
    ("in", "cm"),
    ("ft", "km"),
    ("ml", "L"),
    ("m3", "l"),
    ("s", "h"),
    ("min", "s"),
    ("Dozens", "Units"),
    ("kg", "kg"),
]
ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
]
TEMPLATES = [
    "{value}",
    "x={value:>6}",
    "{code}-{qty}",
    "{value:.2f}",
    "[{code:^5}] {{literal}}",
    "plain",
]


def _transform(kind, required=None, optional=None):
    return st.fixed_dictionaries(
        dict({"type": st.just(kind)}, **(required or {})), optional=optional or {}
    )


transforms = st.one_of(
    _transform("constant", {"value": json_values}),
    _transform("default", {"value": json_values}),
    _transform("required"),
    _transform(
        "value_map",
        {"map": pairs},
        {"default": json_values, "strict": st.booleans()},
    ),
    _transform(
        "xref",
        {"model": st.sampled_from(["mrp.workorder", "product.product"])},
        {
            "create": st.booleans(),
            "external_model": st.one_of(st.none(), st.sampled_from(["article"])),
        },
    ),
    st.sampled_from(SAME_CATEGORY).map(
        lambda units: {"type": "uom", "from": units[0], "to": units[1]}
    ),
    _transform(
        "datetime",
        optional={
            "input_format": st.sampled_from(
                ["iso", "epoch", "epoch_ms", "%Y-%m-%d %H:%M"]
            ),
            "input_tz": st.sampled_from(ZONES),
            "output_tz": st.sampled_from(ZONES),
            "output_format": st.sampled_from(
                ["iso", "epoch", "epoch_ms", "%d.%m.%Y %H:%M"]
            ),
            "ambiguous": st.sampled_from(["raise", "earlier", "later"]),
        },
    ),
    _transform(
        "round",
        optional={
            "digits": st.integers(-3, 6),
            "mode": st.sampled_from(["half_up", "half_even"]),
        },
    ),
    _transform("number"),
    _transform("string"),
    _transform("template", {"template": st.sampled_from(TEMPLATES)}),
    _transform("lowercase"),
    _transform("uppercase"),
    _transform("strip"),
)

TARGET_PATTERNS = ["f{i}", "o{i}.value", "l{i}.0", "l{i}.2.code", "d{i}.a.b"]


@st.composite
def definitions(draw):
    count = draw(st.integers(0, 6))
    lines = []
    for index in range(count):
        line = {"target": draw(st.sampled_from(TARGET_PATTERNS)).format(i=index)}
        source = draw(st.sampled_from(SOURCES))
        if source is not None or draw(st.booleans()):
            line["source"] = source
        if draw(st.booleans()) or index % 2:
            line["transforms"] = draw(st.lists(transforms, max_size=4))
        lines.append(line)
    definition = {"lines": lines}
    optional = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "format": st.just("mfg-integration-mapping/1"),
                "name": st.text(max_size=10),
                "description": st.text(max_size=10),
                "event_type": st.one_of(
                    st.none(), st.just("work_order.progress_reported")
                ),
                "direction": st.sampled_from(["inbound", "outbound"]),
            },
        )
    )
    definition.update(optional)
    return definition


def resolver(model, external_id, create, external_model):
    if external_id.startswith("X") and not create:
        return None
    return f"{model}:{external_id}:{create}:{external_model}"


def converter(value, from_unit, to_unit):
    if from_unit == "t":
        raise ValueError("no tons here")
    return float(value) * 2


def outcome(compiled, payload, **kw):
    """The result of an apply, or the error it raised (nothing else may escape)."""
    try:
        return ("ok", compiled.apply(payload, **kw))
    except MappingError as error:
        return ("error", error.detail, error.errors)


# -- properties -------------------------------------------------------------------


@SETTINGS
@given(definition=definitions(), payload=payloads, use_callbacks=st.booleans())
def test_export_import_apply_is_identical(definition, payload, use_callbacks):
    assert validate(definition) == []
    original = compile_mapping(definition)
    exported = export_definition(original)
    text = json.dumps(exported)
    restored = compile_mapping(import_definition(text))
    kw = {"resolver": resolver, "uom_converter": converter} if use_callbacks else {}
    assert outcome(restored, payload, **kw) == outcome(original, payload, **kw)
    # the export is stable: exporting the import again gives the same document
    assert export_definition(restored) == exported
    assert export_definition(import_definition(exported)) == exported
    assert export_definition(definition) == exported


@SETTINGS
@given(definition=definitions(), payload=payloads)
def test_apply_never_mutates_and_fails_only_with_mapping_errors(definition, payload):
    compiled = compile_mapping(definition)
    before = copy.deepcopy(payload)
    frozen = copy.deepcopy(definition)
    result = outcome(compiled, payload, resolver=resolver)
    assert payload == before
    assert definition == frozen
    if result[0] == "ok":
        json.dumps(result[1])  # the output is JSON
    else:
        detail, errors = result[1], result[2]
        assert detail.startswith("Line ")
        assert len(errors) == 1 and errors[0]["message"] == detail
        line = int(errors[0]["pointer"].split("/")[2])
        assert detail.startswith(f"Line {line + 1} (")


# -- validation never raises ---------------------------------------------------------

PARAM_NAMES = [
    "value",
    "map",
    "table",
    "default",
    "strict",
    "model",
    "create",
    "external_model",
    "from",
    "to",
    "input_format",
    "input_tz",
    "output_tz",
    "output_format",
    "ambiguous",
    "digits",
    "mode",
    "template",
    "bogus",
]
INTERESTING = st.sampled_from(
    [
        "",
        "iso",
        "epoch",
        "%Q",
        "%",
        "Europe/Berlin",
        "../etc",
        "/abs",
        "a\x00b",
        "g",
        "kg",
        "m",
        "Units",
        "{a.__class__}",
        "{a[0]}",
        "{0}",
        "{",
        "}",
        "{a:{b}}",
        "{value:>5}",
        "half_up",
        "earlier",
        [["a", 1], ["a", 2]],
        [["a"]],
        [[["x"], 1]],
        [[float("nan"), 1]],
        float("nan"),
        float("inf"),
        -1,
        16,
        True,
    ]
)
anything = st.one_of(json_values, INTERESTING)
fuzz_transforms = st.one_of(
    json_values,
    st.builds(
        lambda kind, params: dict(params, type=kind),
        st.one_of(st.sampled_from(TRANSFORM_TYPES + ("bogus",)), json_values),
        st.dictionaries(st.sampled_from(PARAM_NAMES), anything, max_size=5),
    ),
)
fuzz_lines = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {},
        optional={
            "target": st.one_of(
                st.sampled_from(["a", "a.b", "a.0", "a.0.b", "x.1.y", "", "0", "a..b"]),
                json_values,
            ),
            "source": st.one_of(
                st.sampled_from(["a", "a[", "join(',')", "nope()", "", "`x", "@"]),
                json_values,
            ),
            "transforms": st.one_of(st.lists(fuzz_transforms, max_size=4), json_values),
            "extra": json_values,
        },
    ),
)
fuzz_definitions = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {},
        optional={
            "format": st.one_of(st.just("mfg-integration-mapping/1"), anything),
            "name": anything,
            "description": anything,
            "event_type": anything,
            "direction": st.one_of(st.sampled_from(["inbound", "outbound"]), anything),
            "lines": st.one_of(st.lists(fuzz_lines, max_size=5), anything),
            "extra": anything,
        },
    ),
)


@SETTINGS
@given(definition=fuzz_definitions, payload=payloads)
def test_validate_never_raises_and_agrees_with_compile(definition, payload):
    problems = validate(definition)
    assert isinstance(problems, list)
    for problem in problems:
        assert set(problem) == {"pointer", "message"}
        assert isinstance(problem["pointer"], str)
        assert isinstance(problem["message"], str) and problem["message"]
        if problem["pointer"].startswith("/lines/"):
            line = int(problem["pointer"].split("/")[2])
            assert problem["message"].startswith(f"Line {line + 1}")
    assert isinstance(
        validate(definition, known_units={"g"}, known_value_maps={}), list
    )
    try:
        compiled = compile_mapping(definition)
    except MappingError as error:
        assert problems
        assert error.errors == problems
        assert error.detail.startswith(problems[0]["message"])
        return
    assert problems == []
    outcome(compiled, payload, resolver=resolver)


@SETTINGS
@given(definition=json_values)
def test_validate_never_raises_on_any_json(definition):
    problems = validate(definition)
    assert isinstance(problems, list)
    if not isinstance(definition, dict):
        assert problems and problems[0]["pointer"] == ""
