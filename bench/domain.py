"""Domain throughput: shop-floor events turned into Odoo business records by the
suite, against an external client doing the same business operations through Odoo's
JSON-2 API with an API key, on the same server, at the same concurrency.

Three families, each measured on both sides in alternating rounds:

- ``mes``: ``work_order.progress_reported`` (cumulative good quantity of the order's
  work order) and ``material.consumed`` (one unit of the component booked), in
  turn, for a pool of confirmed manufacturing orders;
- ``downtime``: ``machine.downtime_started`` (a productivity block on the machine's
  work center and a corrective maintenance request);
- ``inspection``: ``inspection.result_recorded`` (a quality inspection of the
  order with two measured characteristics).

The suite side sends the events in batches to ``POST /api/mfg/v1/events`` and is
timed until every message is processed (end to end: ingress, queue, handler,
records). The JSON-2 side makes, for each event, the calls a client needs: find the
records by their business keys, then write or create. Each side has its own orders,
each client its own orders and machines, so neither side waits on the other's locks.
"""

import datetime

from bench_errors import BenchError

#: events per batch request of the suite's senders
DOMAIN_BATCH = 25
EVENTS = "/api/mfg/v1/events"
JSON2 = "/json/2"
SIDES = ("suite", "json2")

FAMILIES = {
    "mes": {
        "label": "MES progress + consumption",
        "types": ("work_order.progress_reported", "material.consumed"),
        "json2": "search the order and its work order, write the produced quantity "
        "(start it the first time); search the order, the component and its move, "
        "write the consumed quantity",
    },
    "downtime": {
        "label": "machine downtime started",
        "types": ("machine.downtime_started",),
        "json2": "search the machine and its work center, create the productivity "
        "block and the maintenance request (the loss is looked up once per client)",
    },
    "inspection": {
        "label": "inspection result recorded",
        "types": ("inspection.result_recorded",),
        "json2": "search the product and the order, create the inspection with its "
        "lines and result (the unit is looked up once per client)",
    },
}


class DomainPlan:
    """The events of each round: which client sends what about which record, with
    shop-floor times and cumulative quantities that move forward on every round."""

    def __init__(self, fixtures, stamp, threads, per_thread):
        self.fx = fixtures
        self.stamp = stamp
        self.threads = threads
        self.per_thread = per_thread
        self.clock = datetime.datetime(2026, 11, 2, 6, 0, tzinfo=datetime.UTC)
        self.counter = 0
        self.good = {}
        self.bookings = {}
        orders = fixtures["orders"]
        half = len(orders) // 2
        self.orders = {"suite": orders[:half], "json2": orders[half:]}

    def _tick(self):
        self.clock += datetime.timedelta(seconds=7)
        return self.clock.isoformat().replace("+00:00", "Z")

    def _id(self, marker):
        self.counter += 1
        return f"{marker}-{self.counter}"

    def side_orders(self, side, thread):
        pool = self.orders[side]
        size = max(1, len(pool) // self.threads)
        return pool[thread * size : (thread + 1) * size] or pool[:1]

    def events(self, family, side, marker, steps):
        """One list of ``(type, id, data)`` per client."""
        out = []
        for thread in range(self.threads):
            own = []
            if family == "mes":
                orders = self.side_orders(side, thread)
                for _step in range(steps):
                    for order in orders:
                        own.append(self._progress(order, marker))
                        own.append(self._consumed(order, marker))
            elif family == "downtime":
                machine = self.fx["equipment"][thread % len(self.fx["equipment"])]
                for _step in range(steps):
                    own.append(self._downtime(machine, marker))
            else:
                orders = self.side_orders(side, thread)
                for step in range(steps):
                    own.append(self._inspection(orders[step % len(orders)], marker))
            out.append(own)
        return out

    def _progress(self, order, marker):
        good = self.good[order["name"]] = self.good.get(order["name"], 0) + 1
        return (
            "work_order.progress_reported",
            self._id(marker),
            {
                "production_order": order["name"],
                "work_order": order["work_order"],
                "work_center": self.fx["work_center"],
                "status": "in_progress",
                "reported_at": self._tick(),
                "quantity_good": {"value": good, "uom": "Units"},
            },
        )

    def _consumed(self, order, marker):
        self.bookings[order["name"]] = self.bookings.get(order["name"], 0) + 1
        return (
            "material.consumed",
            self._id(marker),
            {
                "production_order": order["name"],
                "work_order": order["work_order"],
                "product": {"default_code": self.fx["component"]},
                "quantity": {"value": 1, "uom": "Units"},
                "consumption_type": "planned",
                "consumed_at": self._tick(),
            },
        )

    def _downtime(self, machine, marker):
        downtime_id = self._id(marker)
        return (
            "machine.downtime_started",
            downtime_id,
            {
                "downtime_id": downtime_id,
                "equipment": {"code": machine},
                "started_at": self._tick(),
                "reason_category": "breakdown",
                "reason_code": "BENCH-STOP",
                "detection": "automatic",
                "comment": marker,
            },
        )

    def _inspection(self, order, marker):
        inspection_id = self._id(marker)
        return (
            "inspection.result_recorded",
            inspection_id,
            {
                "inspection_id": inspection_id,
                "inspection_type": "final",
                "product": {"default_code": self.fx["finished"]},
                "production_order": order["name"],
                "quantity_inspected": {"value": 1, "uom": "Units"},
                "result": "pass",
                "inspected_at": self._tick(),
                "comment": marker,
                "characteristics": [
                    {
                        "code": "BORE-DIA",
                        "name": "Bore diameter",
                        "kind": "variable",
                        "measured_value": 42.012,
                        "nominal": 42.0,
                        "lower_tolerance": -0.02,
                        "upper_tolerance": 0.025,
                        "uom": "mm",
                        "result": "pass",
                    },
                    {
                        "code": "WALL",
                        "name": "Wall thickness",
                        "kind": "variable",
                        "measured_value": 6.1,
                        "nominal": 6.0,
                        "lower_tolerance": -0.2,
                        "upper_tolerance": 0.3,
                        "uom": "mm",
                        "result": "pass",
                    },
                ],
            },
        )

    def expected(self, family, side, markers_events):
        """What the side's records must show after its rounds."""
        if family == "mes":
            names = {o["name"] for o in self.orders[side]}
            return {
                "produced": float(sum(self.good.get(n, 0) for n in names)),
                "consumed": float(sum(self.bookings.get(n, 0) for n in names)),
            }
        if family == "downtime":
            return {"blocks": markers_events, "requests": markers_events}
        return {"inspections": markers_events, "lines": 2 * markers_events}


# ----------------------------------------------------------------------
# The suite's senders
# ----------------------------------------------------------------------


def suite_units(events_by_thread, tokens, source):
    """Units of the suite's clients: one batch request of up to ``DOMAIN_BATCH``
    events each; client ``n`` sends as system ``n % 2`` (the two lines)."""
    out = []
    for thread, events in enumerate(events_by_thread):
        headers = {
            "Authorization": f"Bearer {tokens[thread % len(tokens)]}",
            "Content-Type": "application/cloudevents-batch+json",
        }
        units = []
        for start in range(0, len(events), DOMAIN_BATCH):
            chunk = [
                {
                    "specversion": "1.0",
                    "id": event_id,
                    "source": source,
                    "type": event_type,
                    "time": "2026-11-02T06:00:00Z",
                    "data": data,
                }
                for event_type, event_id, data in events[start : start + DOMAIN_BATCH]
            ]
            units.append(_batch_unit(chunk, headers))
        out.append(units)
    return out


def _batch_unit(chunk, headers):
    def unit(call):
        # requests sets the JSON body's Content-Type only when none is given: the
        # batch media type given here is kept
        answer = call(EVENTS, chunk, headers)
        if answer["accepted"] != len(chunk):
            problems = [r.get("problem") for r in answer["results"] if "problem" in r]
            raise BenchError(
                f"the suite accepted {answer['accepted']} of {len(chunk)} events: "
                f"{problems[:1]}"
            )

    return unit


# ----------------------------------------------------------------------
# The JSON-2 client
# ----------------------------------------------------------------------


class Json2Client:
    """What an external system does through JSON-2 for each event: the calls of
    Odoo's ORM methods, each an HTTP request of its own, authenticated with an API
    key (``Authorization: bearer``), as the user the key belongs to."""

    def __init__(self, key):
        self.headers = {"Authorization": f"bearer {key}"}

    def units(self, family, events_by_thread):
        out = []
        for events in events_by_thread:
            cache = {}
            out.append(
                [
                    self._unit(family, event_type, data, cache)
                    for event_type, _id, data in events
                ]
            )
        return out

    def _unit(self, family, event_type, data, cache):
        if event_type == "work_order.progress_reported":
            return lambda call: self.progress(call, data)
        if event_type == "material.consumed":
            return lambda call: self.consumed(call, data)
        if family == "downtime":
            return lambda call: self.downtime(call, data, cache)
        return lambda call: self.inspection(call, data, cache)

    def _call(self, call, model, method, **kwargs):
        return call(f"{JSON2}/{model}/{method}", kwargs, self.headers)

    def _one(self, call, model, domain, fields=None):
        if fields:
            rows = self._call(
                call, model, "search_read", domain=domain, fields=fields, limit=2
            )
        else:
            rows = self._call(call, model, "search", domain=domain, limit=2)
        if len(rows) != 1:
            raise BenchError(f"JSON-2 client: {model} {domain} found {len(rows)}")
        return rows[0]

    def progress(self, call, data):
        order = self._one(
            call, "mrp.production", [["name", "=", data["production_order"]]]
        )
        workorder = self._one(
            call,
            "mrp.workorder",
            [
                ["production_id", "=", order],
                ["workcenter_id.code", "=", data["work_center"]],
            ],
            ["state"],
        )
        self._call(
            call,
            "mrp.workorder",
            "write",
            ids=[workorder["id"]],
            vals={"qty_produced": data["quantity_good"]["value"]},
        )
        if workorder["state"] != "progress":
            self._call(call, "mrp.workorder", "button_start", ids=[workorder["id"]])

    def consumed(self, call, data):
        order = self._one(
            call, "mrp.production", [["name", "=", data["production_order"]]]
        )
        product = self._one(
            call,
            "product.product",
            [["default_code", "=", data["product"]["default_code"]]],
        )
        move = self._one(
            call,
            "stock.move",
            [
                ["raw_material_production_id", "=", order],
                ["product_id", "=", product],
                ["state", "not in", ["done", "cancel"]],
            ],
            ["quantity", "picked"],
        )
        # the first booking replaces what Odoo reserved, as the suite's does
        before = move["quantity"] if move["picked"] else 0.0
        self._call(
            call,
            "stock.move",
            "write",
            ids=[move["id"]],
            vals={"quantity": before + data["quantity"]["value"], "picked": True},
        )

    def downtime(self, call, data, cache):
        code = data["equipment"]["code"]
        equipment = self._one(
            call, "maintenance.equipment", [["serial_no", "=", code]], ["name"]
        )
        workcenter = self._one(call, "mrp.workcenter", [["code", "=", code]])
        if "loss" not in cache:
            cache["loss"] = self._call(
                call,
                "mrp.workcenter.productivity.loss",
                "search",
                domain=[["loss_type", "=", "availability"]],
                limit=1,
            )[0]
        started = data["started_at"].replace("T", " ").rstrip("Z")
        self._call(
            call,
            "mrp.workcenter.productivity",
            "create",
            vals_list=[
                {
                    "workcenter_id": workcenter,
                    "loss_id": cache["loss"],
                    "date_start": started,
                    "description": f"Downtime {data['downtime_id']} of "
                    f"{equipment['name']} ({data['reason_code']})",
                }
            ],
        )
        self._call(
            call,
            "maintenance.request",
            "create",
            vals_list=[
                {
                    "name": f"{data['reason_code']} on {equipment['name']}",
                    "equipment_id": equipment["id"],
                    "maintenance_type": "corrective",
                    "priority": "3",
                    "request_date": started[:10],
                    "description": data["comment"],
                }
            ],
        )

    def inspection(self, call, data, cache):
        product = self._one(
            call,
            "product.product",
            [["default_code", "=", data["product"]["default_code"]]],
        )
        order = self._one(
            call, "mrp.production", [["name", "=", data["production_order"]]]
        )
        if "unit" not in cache:
            cache["unit"] = self._one(call, "uom.uom", [["name", "=", "mm"]])
        lines = []
        for item in data["characteristics"]:
            lines.append(
                [
                    0,
                    0,
                    {
                        "name": f"{item['code']} {item['name']}",
                        "question_type": "quantitative",
                        "quantitative_value": item["measured_value"],
                        "min_value": item["nominal"] + item["lower_tolerance"],
                        "max_value": item["nominal"] + item["upper_tolerance"],
                        "uom_id": cache["unit"],
                        "test_uom_id": cache["unit"],
                    },
                ]
            )
        self._call(
            call,
            "qc.inspection",
            "create",
            vals_list=[
                {
                    "object_id": f"mrp.production,{order}",
                    "product_id": product,
                    "qty": data["quantity_inspected"]["value"],
                    "date": data["inspected_at"].replace("T", " ").rstrip("Z"),
                    "internal_notes": data["comment"],
                    "state": "success",
                    "inspection_lines": lines,
                }
            ],
        )
