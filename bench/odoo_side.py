"""What the benchmark does inside Odoo, in this process (import odoo, Registry(db),
committed transactions), as tests/e2e/conftest.py does: fixtures, emitting, enqueueing,
counting and the bulk rows of the list-view measurement."""

import json
import time

from lxml import etree

INBOUND = "work_order.progress_reported"
OUTBOUND = "production_order.released"


class OdooSide:
    def __init__(self, conf, db):
        import odoo.init  # noqa: F401  (Odoo's import-time globals)
        from odoo import api
        from odoo.orm.registry import Registry
        from odoo.tools import config

        config.parse_config(["-c", str(conf), "-d", db], setup_logging=False)
        self.api = api
        self.db = db
        self.registry = Registry(db)

    def run(self, func):
        """``func(env)`` as superuser in a transaction of its own, committed."""
        with self.registry.cursor() as cr:
            return func(self.api.Environment(cr, self.api.SUPERUSER_ID, {}))

    def sql(self, query, params=None):
        def run(env):
            env.cr.execute(query, params)
            return env.cr.fetchall() if env.cr.description else None

        return self.run(run)

    def close(self):
        from odoo.sql_db import close_db

        close_db(self.db)

    # ------------------------------------------------------------------
    # Fixtures
    # ------------------------------------------------------------------

    def setup(self, receiver_url):
        from odoo import Command

        from mfg_integration.webhooks import generate_webhook_secret

        def setup(env):
            Event = env["mfg.integration.event.type"]
            inbound, outbound = Event.get_by_code(INBOUND), Event.get_by_code(OUTBOUND)
            if not inbound.current_schema_id or not outbound.current_schema_id:
                raise RuntimeError(f"the catalogue lacks {INBOUND} or {OUTBOUND}")
            System = env["mfg.integration.system"]
            system = System.create(
                {"name": "Bench MES", "code": "bench", "kind": "mes"}
            )
            others = System.create(
                [
                    {"name": "Bench QMS", "code": "bench_qms", "kind": "qms"},
                    {"name": "Bench CMMS", "code": "bench_cmms", "kind": "cmms"},
                ]
            )
            key, token = env["mfg.integration.api.key"].generate(system, "bench")
            key.rate_limit = 0
            # the receiver runs on this machine: deliveries may reach loopback
            env["ir.config_parameter"].set_param(
                "mfg_integration.outbound_allowed_networks", "127.0.0.0/8"
            )
            _metrics_key, metrics_token = env["mfg.integration.api.key"].generate(
                system, "bench prometheus", metrics_scope=True
            )
            endpoint = env["mfg.integration.endpoint"].create(
                {
                    "name": "Bench receiver",
                    "code": "bench-receiver",
                    "system_id": system.id,
                    "direction": "outbound",
                    "url": f"{receiver_url}/events",
                    "signing_secret": generate_webhook_secret(),
                }
            )
            env["mfg.integration.subscription"].create(
                {"event_type_id": outbound.id, "endpoint_id": endpoint.id}
            )
            partner_model = env["ir.model"]._get("res.partner")

            def automation(name, code):
                return env["base.automation"].create(
                    {
                        "name": name,
                        "model_id": partner_model.id,
                        "trigger": "on_webhook",
                        "action_server_ids": [
                            Command.create(
                                {
                                    "name": name,
                                    "model_id": partner_model.id,
                                    "state": "code",
                                    "code": code,
                                }
                            )
                        ],
                    }
                )

            noop = automation("Bench webhook (no-op)", "pass")
            create = automation(
                "Bench webhook (create)",
                "env['res.partner'].create({'name': 'Bench webhook partner'})",
            )
            admin = env.ref("base.user_admin")
            json2_key = (
                env["res.users.apikeys"].with_user(admin)._generate(None, "bench", None)
            )
            return {
                "system_id": system.id,
                "system_user_id": system.user_id.id,
                "other_system_ids": others.ids,
                "company_id": system.company_id.id,
                "token": token,
                "metrics_token": metrics_token,
                "endpoint_id": endpoint.id,
                "delivery_batch_size": endpoint.delivery_batch_size,
                "inbound_type_id": inbound.id,
                "outbound_type_id": outbound.id,
                "inbound_example": inbound.current_schema_id.get_schema()["examples"][
                    0
                ],
                "outbound_example": outbound.current_schema_id.get_schema()["examples"][
                    0
                ],
                "webhook_noop": noop.webhook_uuid,
                "webhook_create": create.webhook_uuid,
                "admin_partner_id": admin.partner_id.id,
                "json2_key": json2_key,
            }

        return self.run(setup)

    def setup_domain(self, fx, orders, equipment):
        """The business records of the domain measurements, committed before the
        server starts: a second MES and a second QMS system (a plant with two
        lines, each with its MES and its QMS), a finished product made in one
        operation from a component, ``orders`` confirmed manufacturing orders
        (released to the first system, bound to both), ``equipment`` machines each
        on its own work center, a downtime reason that opens a corrective request,
        and stock enough for every booking.

        :return: what the load generators need: tokens, order names and work order
            references, equipment codes
        """
        from odoo import Command

        def setup(env):
            env = env(context=dict(env.context, tracking_disable=True))
            System = env["mfg.integration.system"]
            second = System.create(
                {"name": "Bench MES line B", "code": "bench_b", "kind": "mes"}
            )
            qms = System.browse(fx["other_system_ids"][0]) | System.create(
                {"name": "Bench QMS line B", "code": "bench_qms_b", "kind": "qms"}
            )
            tokens = {}
            for system in second | qms:
                key, tokens[system.id] = env["mfg.integration.api.key"].generate(
                    system, "bench"
                )
                key.rate_limit = 0
            mes_tokens = [fx["token"], tokens[second.id]]
            Product = env["product.product"]
            finished = Product.create(
                {"name": "Bench pump", "default_code": "BENCH-FG", "is_storable": True}
            )
            component = Product.create(
                {
                    "name": "Bench casting",
                    "default_code": "BENCH-C1",
                    "is_storable": True,
                }
            )
            stock = env.ref("stock.warehouse0").lot_stock_id
            env["stock.quant"]._update_available_quantity(component, stock, 10**7)
            Workcenter = env["mrp.workcenter"]
            assembly = Workcenter.create(
                {"name": "Bench assembly", "code": "BENCH-ASM"}
            )
            bom = env["mrp.bom"].create(
                {
                    "product_tmpl_id": finished.product_tmpl_id.id,
                    "product_qty": 1,
                    "consumption": "flexible",
                    "operation_ids": [
                        Command.create(
                            {"name": "Assembly", "workcenter_id": assembly.id}
                        )
                    ],
                }
            )
            bom.bom_line_ids = [
                Command.create(
                    {
                        "product_id": component.id,
                        "product_qty": 1,
                        "operation_id": bom.operation_ids.id,
                    }
                )
            ]
            productions = env["mrp.production"].create(
                [
                    {"product_id": finished.id, "product_qty": 100000, "bom_id": bom.id}
                    for _i in range(orders)
                ]
            )
            productions.action_confirm()
            pool = []
            for production in productions:
                production._mfg_bind_work_orders(second)
                workorder = production.workorder_ids
                pool.append(
                    {
                        "name": production.name,
                        "id": production.id,
                        "work_order": workorder._mfg_integration_reference(),
                    }
                )
            loss = env.ref("mrp.block_reason1")
            env["mfg.integration.downtime.reason"].create(
                {
                    "reason_category": "breakdown",
                    "reason_code": "BENCH-STOP",
                    "loss_id": loss.id,
                    "corrective_request": True,
                }
            )
            machines = []
            for index in range(equipment):
                code = f"BENCH-PRESS-{index + 1:02d}"
                workcenter = Workcenter.create({"name": f"Bench {code}", "code": code})
                env["maintenance.equipment"].create(
                    {
                        "name": f"Bench press {index + 1}",
                        "mfg_code": code,
                        "serial_no": code,
                        "mfg_workcenter_id": workcenter.id,
                    }
                )
                machines.append(code)
            return {
                # the two sending systems of each family (a plant with two lines)
                "tokens": {
                    "mes": mes_tokens,
                    "downtime": mes_tokens,
                    "inspection": [tokens[system.id] for system in qms],
                },
                "orders": pool,
                "equipment": machines,
                "work_center": "BENCH-ASM",
                "finished": "BENCH-FG",
                "component": "BENCH-C1",
            }

        return self.run(setup)

    def domain_states(self, source):
        """Inbound messages of the events sent with CloudEvents ``source``, by
        state, and the first error of a failed one."""
        states = dict(
            self.sql(
                "SELECT state, count(*) FROM mfg_integration_message "
                "WHERE direction = 'inbound' AND ce_source = %s GROUP BY state",
                [source],
            )
        )
        if set(states) & {"failed", "dead"}:
            row = self.sql(
                "SELECT error_class, error_message FROM mfg_integration_message "
                "WHERE ce_source = %s AND state IN ('failed', 'dead') LIMIT 1",
                [source],
            )
            states["error"] = row[0]
        return states

    def drain_job_seconds(self, since, until):
        """Summed execution time of the inbound drain jobs that started within
        [since, until] (epoch seconds), and their number."""
        import datetime

        def utc(epoch):
            return datetime.datetime.fromtimestamp(epoch, datetime.UTC).replace(
                tzinfo=None
            )

        row = self.sql(
            "SELECT coalesce(sum(exec_time), 0), count(*) FROM queue_job "
            "WHERE method_name = '_job_drain' AND state = 'done' "
            "AND date_started BETWEEN %s AND %s",
            [utc(since - 1), utc(until + 1)],
        )
        return float(row[0][0]), row[0][1]

    def domain_effects(self, family, order_ids, marker):
        """What the domain operations left in Odoo, to check both sides did the
        same work: produced quantities and consumed components of the orders, or
        the downtimes, maintenance requests and inspections named ``marker``."""
        if family == "mes":
            produced = self.sql(
                "SELECT coalesce(sum(qty_produced), 0) FROM mrp_workorder "
                "WHERE production_id = ANY(%s)",
                [order_ids],
            )[0][0]
            consumed = self.sql(
                "SELECT coalesce(sum(quantity), 0) FROM stock_move "
                "WHERE raw_material_production_id = ANY(%s)",
                [order_ids],
            )[0][0]
            return {"produced": float(produced), "consumed": float(consumed)}
        if family == "downtime":
            return {
                "blocks": self.sql(
                    "SELECT count(*) FROM mrp_workcenter_productivity "
                    "WHERE description LIKE %s",
                    [f"%{marker}%"],
                )[0][0],
                "requests": self.sql(
                    "SELECT count(*) FROM maintenance_request "
                    "WHERE description::text LIKE %s",
                    [f"%{marker}%"],
                )[0][0],
            }
        return {
            "inspections": self.sql(
                "SELECT count(*) FROM qc_inspection WHERE internal_notes LIKE %s",
                [f"%{marker}%"],
            )[0][0],
            "lines": self.sql(
                "SELECT count(*) FROM qc_inspection_line l JOIN qc_inspection i "
                "ON i.id = l.inspection_id WHERE i.internal_notes LIKE %s",
                [f"%{marker}%"],
            )[0][0],
        }

    # ------------------------------------------------------------------
    # Counting
    # ------------------------------------------------------------------

    def count_messages(self, source):
        return self.sql(
            "SELECT count(*) FROM mfg_integration_message WHERE ce_source = %s",
            [source],
        )[0][0]

    def count_partners(self, name_like):
        return self.sql(
            "SELECT count(*) FROM res_partner WHERE name LIKE %s", [name_like]
        )[0][0]

    def inbound_job_states(self):
        return dict(
            self.sql(
                "SELECT state, count(*) FROM queue_job "
                "WHERE channel LIKE 'root.mfg_integration.inbound%%' GROUP BY state"
            )
        )

    # ------------------------------------------------------------------
    # queue_job and outbound
    # ------------------------------------------------------------------

    def enqueue_test_jobs(self, count, description):
        """``count`` no-op jobs of queue_job's own ``_test_job``, one transaction."""

        def enqueue(env):
            Job = env["queue.job"]
            for _i in range(count):
                Job.with_delay(description=description)._test_job()

        self.run(enqueue)
        return time.time()

    def job_states(self, description):
        return dict(
            self.sql(
                "SELECT state, count(*) FROM queue_job WHERE name = %s GROUP BY state",
                [description],
            )
        )

    def emit(self, count, data, subject, before_commit=None):
        """Emit ``count`` outbound events in one transaction; return (ids, commit time).

        ``before_commit()``, if given, is called once the events are emitted."""

        def emit(env):
            Event = env["mfg.integration.event.type"]
            ids = []
            for _i in range(count):
                ids.extend(Event.emit(OUTBOUND, data, subject=subject).ids)
            if before_commit:
                env.flush_all()
                before_commit()
            return ids

        ids = self.run(emit)
        return ids, time.time()

    def outbound_states(self, subject):
        return dict(
            self.sql(
                "SELECT state, count(*) FROM mfg_integration_message "
                "WHERE direction = 'outbound' AND ce_subject = %s GROUP BY state",
                [subject],
            )
        )

    # ------------------------------------------------------------------
    # The list view
    # ------------------------------------------------------------------

    def list_view_specification(self):
        """The fields the web client reads for the default list view of messages
        (the columns not hidden by default), as a web_read specification."""

        def read(env):
            Message = env["mfg.integration.message"]
            arch = Message.get_view(view_type="list")["arch"]
            spec = {}
            for node in etree.fromstring(arch).iter("field"):
                if node.get("optional") == "hide" or node.get("column_invisible") in (
                    "1",
                    "True",
                ):
                    continue
                name = node.get("name")
                field = Message._fields[name]
                if field.type in ("many2one", "many2many", "one2many"):
                    spec[name] = {"fields": {"display_name": {}}}
                else:
                    spec[name] = {}
            return spec

        return self.run(read)

    def fill_messages(self, total, fixtures, payload):
        """Bulk-insert rows until the message table holds ``total`` rows: 1 % dead
        letters, 1 % retrying, a tenth outbound, over three systems, received over the
        past weeks. Returns (rows inserted, seconds)."""
        current = self.sql("SELECT count(*) FROM mfg_integration_message")[0][0]
        missing = max(0, total - current)
        systems = [fixtures["system_id"], *fixtures["other_system_ids"]]
        started = time.monotonic()
        if missing:
            self.sql(
                """
                INSERT INTO mfg_integration_message (
                    create_uid, create_date, write_uid, write_date, direction,
                    system_id, company_id, endpoint_id, event_type_id, event_code,
                    schema_version, ce_id, ce_source, ce_time, ce_subject,
                    correlation_id, payload, state, attempts, payload_edited,
                    error_class, error_message, processed_at, next_attempt_at)
                SELECT 1, ts, 1, ts,
                       CASE WHEN g %% 10 = 0 THEN 'outbound' ELSE 'inbound' END,
                       (%(systems)s)[g %% 3 + 1], %(company)s,
                       CASE WHEN g %% 10 = 0 THEN %(endpoint)s END,
                       CASE WHEN g %% 10 = 0 THEN %(out_type)s ELSE %(in_type)s END,
                       CASE WHEN g %% 10 = 0 THEN %(out_code)s ELSE %(in_code)s END,
                       1, 'bench-list-' || g, 'urn:bench:list', ts,
                       'WH/MO/' || lpad((g %% 100000)::text, 5, '0'),
                       md5(g::text), %(payload)s,
                       CASE WHEN g %% 100 = 0 THEN 'dead'
                            WHEN g %% 100 = 1 THEN 'failed' ELSE 'done' END,
                       CASE WHEN g %% 100 IN (0, 1) THEN 3 ELSE 1 END, false,
                       CASE WHEN g %% 100 IN (0, 1) THEN 'transport.timeout' END,
                       CASE WHEN g %% 100 IN (0, 1)
                            THEN 'The receiver did not answer within 15 s.' END,
                       CASE WHEN g %% 100 > 1 THEN ts END,
                       CASE WHEN g %% 100 = 1 THEN ts + interval '1 hour' END
                  FROM (
                        SELECT g, (now() AT TIME ZONE 'UTC')
                                  - (%(count)s - g) * interval '2 seconds' AS ts
                          FROM generate_series(1, %(count)s) AS g
                       ) AS rows
                """,
                {
                    "systems": systems,
                    "company": fixtures["company_id"],
                    "endpoint": fixtures["endpoint_id"],
                    "out_type": fixtures["outbound_type_id"],
                    "in_type": fixtures["inbound_type_id"],
                    "out_code": OUTBOUND,
                    "in_code": INBOUND,
                    "payload": json.dumps(payload, separators=(",", ":")),
                    "count": missing,
                },
            )
        self.sql("ANALYZE mfg_integration_message")
        return missing, time.monotonic() - started
