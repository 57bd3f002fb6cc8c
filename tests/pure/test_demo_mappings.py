"""Pure checks of the demo mapping definitions shipped by the domain addons.

``addons/mfg_integration_mes/demo/mappings/vendor_mes_work_order_progress.json``
maps a vendor MES progress report into canonical ``work_order.progress_reported``
data; ``addons/mfg_integration_maintenance/demo/mappings/cmms_work_order_created.json``
maps canonical ``maintenance.work_order_created`` data into a CMMS record. Each has a
``.sample.json`` input next to it.

This module never imports odoo: it runs in the pure tier.
"""

import copy
import json
from pathlib import Path

import pytest

from mfg_integration.errors import MappingError
from mfg_integration.mapping import FORMAT, compile_mapping, import_definition
from mfg_integration.schemas import validate

REPO_ROOT = Path(__file__).resolve().parents[2]
ADDONS_DIR = REPO_ROOT / "addons"

MES_DIR = ADDONS_DIR / "mfg_integration_mes"
MES_MAPPING = MES_DIR / "demo/mappings/vendor_mes_work_order_progress.json"
MES_SAMPLE = MES_DIR / "demo/mappings/vendor_mes_work_order_progress.sample.json"
PROGRESS_SCHEMA = MES_DIR / "data/schemas/work_order.progress_reported.v1.json"

CMMS_DIR = ADDONS_DIR / "mfg_integration_maintenance"
CMMS_MAPPING = CMMS_DIR / "demo/mappings/cmms_work_order_created.json"
CMMS_SAMPLE = CMMS_DIR / "demo/mappings/cmms_work_order_created.sample.json"
CREATED_SCHEMA = CMMS_DIR / "data/schemas/maintenance.work_order_created.v1.json"

DEMO_MAPPINGS = [
    pytest.param(
        MES_MAPPING,
        MES_SAMPLE,
        "work_order.progress_reported",
        "inbound",
        "Line 1 MES work order progress",
        id="mes-progress",
    ),
    pytest.param(
        CMMS_MAPPING,
        CMMS_SAMPLE,
        "maintenance.work_order_created",
        "outbound",
        "Plant CMMS work order format",
        id="cmms-created",
    ),
    pytest.param(
        CMMS_DIR / "demo/mappings/iot_downtime_started.json",
        CMMS_DIR / "demo/mappings/iot_downtime_started.sample.json",
        "machine.downtime_started",
        "inbound",
        "Press PLC stop signal",
        id="iot-stop",
    ),
    pytest.param(
        CMMS_DIR / "demo/mappings/iot_downtime_ended.json",
        CMMS_DIR / "demo/mappings/iot_downtime_ended.sample.json",
        "machine.downtime_ended",
        "inbound",
        "Press PLC restart signal",
        id="iot-restart",
    ),
]


def _load(path):
    return json.loads(path.read_text(encoding="utf-8"))


def _compiled(path):
    return compile_mapping(import_definition(path.read_text(encoding="utf-8")))


def _line_number(path, target):
    """Return the 1-based number of the line of ``path`` that sets ``target``."""
    targets = [line["target"] for line in _load(path)["lines"]]
    return targets.index(target) + 1


@pytest.fixture(scope="module")
def mes_mapping():
    return _compiled(MES_MAPPING)


@pytest.fixture(scope="module")
def cmms_mapping():
    return _compiled(CMMS_MAPPING)


@pytest.fixture
def vendor_payload():
    return _load(MES_SAMPLE)


# -- both definitions ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("mapping_path", "sample_path", "event_type", "direction", "name"), DEMO_MAPPINGS
)
def test_demo_mapping_imports_compiles_and_applies(
    mapping_path, sample_path, event_type, direction, name
):
    raw = _load(mapping_path)
    assert raw["format"] == FORMAT
    definition = import_definition(mapping_path.read_text(encoding="utf-8"))
    compiled = compile_mapping(definition)
    assert compiled.event_type == event_type
    assert compiled.direction == direction
    assert compiled.name == name
    assert len(compiled) == len(raw["lines"])
    sample = _load(sample_path)
    before = copy.deepcopy(sample)
    result = compiled.apply(sample)
    assert isinstance(result, dict)
    assert result
    assert sample == before, "applying a mapping must not modify its input"


@pytest.mark.parametrize(
    "mapping_path", [MES_MAPPING, CMMS_MAPPING], ids=["mes", "cmms"]
)
def test_demo_mapping_uses_no_cross_references(mapping_path):
    kinds = {
        transform["type"]
        for line in _load(mapping_path)["lines"]
        for transform in line.get("transforms", [])
    }
    assert "xref" not in kinds


# -- inbound: vendor MES progress -> canonical ---------------------------------------


def test_mes_sample_maps_to_valid_canonical_data(mes_mapping, vendor_payload):
    result = mes_mapping.apply(vendor_payload)
    assert validate(_load(PROGRESS_SCHEMA), result) == []


def test_mes_sample_converted_values(mes_mapping, vendor_payload):
    result = mes_mapping.apply(vendor_payload)
    assert result["production_order"] == "WH/MO/00042"
    assert result["work_order"] == "WO-17/3"
    assert result["work_center"] == "ASSY-1"
    assert result["operator_id"] == "OP-4711"
    # R (running) is the canonical in_progress
    assert result["status"] == "in_progress"
    # 12500 g and 250 g, in kilograms
    assert result["quantity_good"] == {"value": 12.5, "uom": "kg"}
    assert result["quantity_scrap"] == {"value": 0.25, "uom": "kg"}
    # 24.11.2026 09:15:00 in Berlin is winter time (UTC+1)
    assert result["reported_at"] == "2026-11-24T08:15:00Z"
    # 4110 s of run time
    assert result["duration_minutes"] == 68.5
    assert result["shift"] == "A"
    assert result["comment"] == "Feeder 2 refilled."


@pytest.mark.parametrize(
    ("local", "utc"),
    [
        # summer time (UTC+2)
        ("14.07.2026 06:00:00", "2026-07-14T04:00:00Z"),
        # winter time (UTC+1), across midnight and the year end
        ("01.01.2027 00:30:00", "2026-12-31T23:30:00Z"),
        # the day the clocks go forward: 03:30 is already summer time
        ("29.03.2026 03:30:00", "2026-03-29T01:30:00Z"),
    ],
)
def test_mes_local_berlin_time_becomes_utc(mes_mapping, vendor_payload, local, utc):
    vendor_payload["ts"] = local
    result = mes_mapping.apply(vendor_payload)
    assert result["reported_at"] == utc
    assert validate(_load(PROGRESS_SCHEMA), result) == []


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("S", "started"),
        ("R", "in_progress"),
        ("P", "paused"),
        ("C", "resumed"),
        ("F", "finished"),
        ("f ", "finished"),
    ],
)
def test_mes_status_codes(mes_mapping, vendor_payload, code, status):
    vendor_payload["st"] = code
    result = mes_mapping.apply(vendor_payload)
    assert result["status"] == status
    assert validate(_load(PROGRESS_SCHEMA), result) == []


def test_mes_status_map_covers_the_canonical_enum():
    schema_enum = set(_load(PROGRESS_SCHEMA)["properties"]["status"]["enum"])
    (line,) = [
        line for line in _load(MES_MAPPING)["lines"] if line["target"] == "status"
    ]
    (value_map,) = [t for t in line["transforms"] if t["type"] == "value_map"]
    assert {to for _, to in value_map["map"]} == schema_enum


def test_mes_unknown_status_code_fails_naming_the_line(mes_mapping, vendor_payload):
    vendor_payload["st"] = "X"
    number = _line_number(MES_MAPPING, "status")
    with pytest.raises(MappingError) as info:
        mes_mapping.apply(vendor_payload)
    error = info.value
    assert f"Line {number} (status)" in error.detail
    assert "'X'" in error.detail or '"X"' in error.detail
    assert [entry["pointer"] for entry in error.errors] == [f"/lines/{number - 1}"]


def test_mes_missing_required_field_fails_naming_the_line(mes_mapping, vendor_payload):
    del vendor_payload["qty_good_g"]
    number = _line_number(MES_MAPPING, "quantity_good.value")
    with pytest.raises(MappingError) as info:
        mes_mapping.apply(vendor_payload)
    assert f"Line {number} (quantity_good.value)" in info.value.detail


# -- outbound: canonical -> plant CMMS -----------------------------------------------


def test_cmms_sample_is_a_valid_canonical_example():
    sample = _load(CMMS_SAMPLE)
    schema = _load(CREATED_SCHEMA)
    assert validate(schema, sample) == []
    assert sample == schema["examples"][0]


def test_cmms_sample_record(cmms_mapping):
    record = cmms_mapping.apply(_load(CMMS_SAMPLE))
    assert record["SiteId"] == "PLANT1"
    assert record["Status"] == "WAPPR"
    assert record["ExtRefNum"] == "MR/2025/00318"
    assert record["AssetNum"] == "PRESS-07"
    assert record["SerialNum"] == "SCH-4471-2019"
    assert record["Location"] == "Press shop, bay 2"
    # very_high is the CMMS's most urgent priority, as an integer
    assert record["Priority"] == 1
    assert type(record["Priority"]) is int
    assert record["WorkType"] == "CM"
    # 2025-03-14T09:13:10+01:00 is already Berlin local time (winter)
    assert record["ReportedDate"] == "2025-03-14T09:13:10"
    assert record["TargStartDate"] is None
    assert record["EstDur"] is None
    assert record["Description"] == (
        "Hydraulic leak on press 7 [PRESS-07] (Odoo MR/2025/00318)"
    )
    assert record["LongDescription"].startswith("Oil on the floor")
    assert record["OwnerGroup"] == "MECH"
    assert record["ReportedBy"] == "line.lead@example.com"
    assert record["FailureRef"] == "PRESS-07-2025-03-14-0042"


def test_cmms_second_example_record(cmms_mapping):
    example = _load(CREATED_SCHEMA)["examples"][1]
    record = cmms_mapping.apply(example)
    assert record["Priority"] == 3
    assert record["WorkType"] == "PM"
    # UTC into Berlin winter time (UTC+1); summer time only starts on 30 March
    assert record["ReportedDate"] == "2025-03-15T03:00:00"
    assert record["TargStartDate"] == "2025-03-22T07:00:00"
    assert record["EstDur"] == 4
    assert record["Description"] == (
        "Quarterly service CNC-03 [CNC-03] (Odoo MR/2025/00321)"
    )
    assert record["LongDescription"] == ""
    assert record["OwnerGroup"] == "MAINT"
    assert record["SerialNum"] is None


@pytest.mark.parametrize(
    ("priority", "expected"),
    [("very_high", 1), ("high", 2), ("normal", 3), ("low", 4), (None, 3)],
)
def test_cmms_priorities(cmms_mapping, priority, expected):
    data = _load(CMMS_SAMPLE)
    if priority is None:
        del data["priority"]
    else:
        data["priority"] = priority
    assert cmms_mapping.apply(data)["Priority"] == expected


def test_cmms_summer_time(cmms_mapping):
    data = _load(CMMS_SAMPLE)
    data["requested_at"] = "2025-07-01T22:30:00Z"
    assert cmms_mapping.apply(data)["ReportedDate"] == "2025-07-02T00:30:00"


def test_cmms_long_title_is_cut(cmms_mapping):
    data = _load(CMMS_SAMPLE)
    data["title"] = "x" * 200
    description = cmms_mapping.apply(data)["Description"]
    assert description == "x" * 60 + " [PRESS-07] (Odoo MR/2025/00318)"


@pytest.mark.parametrize(
    "index", range(len(_load(CREATED_SCHEMA)["examples"])), ids=lambda i: f"ex{i}"
)
def test_cmms_mapping_applies_to_every_canonical_example(cmms_mapping, index):
    example = _load(CREATED_SCHEMA)["examples"][index]
    record = cmms_mapping.apply(example)
    assert record["ExtRefNum"] == example["maintenance_request"]
    assert record["AssetNum"] == example["equipment"]["code"]
    assert isinstance(record["Priority"], int)
    assert 1 <= record["Priority"] <= 5
    assert record["WorkType"] in ("CM", "PM")
    assert json.loads(json.dumps(record)) == record


@pytest.mark.parametrize("kind", ["started", "ended"])
def test_iot_signal_mappings_give_valid_downtime_events(kind):
    """The press PLC's state messages (an MQTT feed in the demo) become valid
    canonical downtime events; a stop without a fault code still is one."""
    compiled = _compiled(CMMS_DIR / f"demo/mappings/iot_downtime_{kind}.json")
    sample = _load(CMMS_DIR / f"demo/mappings/iot_downtime_{kind}.sample.json")
    schema = _load(CMMS_DIR / f"data/schemas/machine.downtime_{kind}.v1.json")
    result = compiled.apply(sample)
    assert validate(schema, result) == []
    assert result["equipment"] == {"code": "PRESS-07"}
    assert result["downtime_id"] == sample["stop_id"]
    sample.pop("fault", None)
    bare = compiled.apply(sample)
    assert validate(schema, bare) == []
    if kind == "started":
        assert bare["reason_code"] == "PLC-STOP"
    with pytest.raises(MappingError, match="downtime_id"):
        compiled.apply({**sample, "stop_id": None})
