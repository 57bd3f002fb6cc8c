import json

from odoo import api, fields, models, tools
from odoo.exceptions import UserError, ValidationError
from odoo.tools.misc import file_open

from mfg_integration.errors import MappingError
from mfg_integration.mapping import (
    BUILTIN_UNITS,
    builtin_convert,
    compile_mapping,
    export_definition,
    import_definition,
)


class MfgIntegrationMapping(models.Model):
    """A mapping between canonical event data and a system's own payloads.

    Inbound, it turns what an external system sends into the canonical data of an
    event type; outbound, it turns canonical data into what a receiver expects. It is
    edited line by line in the UI (JMESPath sources, closed set of transforms),
    evaluated by the pure package (no ``eval``), versioned, and exported or imported
    as JSON (format ``mfg-integration-mapping/1``).
    """

    _name = "mfg.integration.mapping"
    _description = "Integration Mapping"
    _inherit = ["mail.thread", "mfg.integration.cached.mixin"]
    _order = "name"

    name = fields.Char(required=True, tracking=True)
    description = fields.Text()
    active = fields.Boolean(default=True, tracking=True)
    direction = fields.Selection(
        [
            ("inbound", "Inbound (system payload to canonical data)"),
            ("outbound", "Outbound (canonical data to system payload)"),
            ("upcast", "Upcast (an older schema version's data to the next version)"),
        ],
        required=True,
        default="inbound",
        tracking=True,
    )
    event_type_id = fields.Many2one(
        "mfg.integration.event.type", required=True, tracking=True, index=True
    )
    system_id = fields.Many2one(
        "mfg.integration.system",
        tracking=True,
        help="Inbound: the mapping applies to this system's events of the event type.",
    )
    endpoint_id = fields.Many2one(
        "mfg.integration.endpoint",
        tracking=True,
        help="Inbound: the mapping applies to events received on this endpoint only "
        "(it wins over a system-wide mapping).",
    )
    line_ids = fields.One2many(
        "mfg.integration.mapping.line", "mapping_id", string="Lines", copy=True
    )
    sample_payload = fields.Text(
        help="A typical input, offered by Test Mapping (not part of the exported "
        "definition).",
    )
    version = fields.Integer(
        readonly=True,
        default=1,
        copy=False,
        tracking=True,
        help="Raised on every change of the mapping or its lines.",
    )

    _name_uniq = models.Constraint(
        "unique(name)", "A mapping with this name already exists."
    )

    # ------------------------------------------------------------------
    # Definition
    # ------------------------------------------------------------------

    def _definition(self):
        """The mapping as a definition of the JSON export format."""
        self.ensure_one()
        return {
            "format": "mfg-integration-mapping/1",
            "name": self.name,
            "description": self.description or "",
            "event_type": self.event_type_id.code,
            "direction": self.direction,
            "lines": [line._definition() for line in self.line_ids],
        }

    @api.model
    def _known_units(self):
        """Unit names a mapping may use: Odoo's units of measure, and the units the
        engine knows by itself (such as s for seconds, which Odoo has not)."""
        units = self.env["uom.uom"].sudo().with_context(active_test=False)
        names = units.search([("name", "!=", False)]).mapped("name")
        return set(names) | set(BUILTIN_UNITS)

    @tools.ormcache("self.id", "self.version")
    def _compiled(self):
        return compile_mapping(self._definition(), known_units=self._known_units())

    def _check_definition(self):
        for mapping in self:
            try:
                compile_mapping(
                    mapping._definition(), known_units=mapping._known_units()
                )
            except MappingError as exc:
                raise ValidationError(
                    self.env._(
                        "Mapping '%(name)s' is invalid: %(detail)s",
                        name=mapping.name,
                        detail=exc.detail,
                    )
                ) from None

    @api.constrains("direction", "event_type_id", "name", "description")
    def _check_header(self):
        self._check_definition()

    def _bump_version(self):
        """Count a change of the mapping or of its lines (a write of ``version``
        alone does not count itself)."""
        for mapping in self:
            mapping.write({"version": mapping.version + 1})

    @api.model_create_multi
    def create(self, vals_list):
        # lines created with the mapping are its first version
        mappings = super(
            MfgIntegrationMapping, self.with_context(mfg_mapping_no_bump=True)
        ).create(vals_list)
        return mappings.with_env(self.env)

    def write(self, vals):
        # one new version per write, whatever it changes in the lines
        res = super(
            MfgIntegrationMapping, self.with_context(mfg_mapping_no_bump=True)
        ).write(vals)
        if set(vals) - {"version"}:
            self._bump_version()
        return res

    # ------------------------------------------------------------------
    # Scripting contract
    # ------------------------------------------------------------------

    def apply(self, payload, system=None):
        """Map ``payload``.

        :param payload: the JSON value to map
        :param system: the system whose cross-references are used (default: the
            mapping's system)
        :return: the mapped result
        :raise MappingError: naming the failing line ("Line N (target): …")
        """
        self.ensure_one()
        system = system or self.system_id
        return self._compiled().apply(
            payload,
            resolver=self._xref_resolver(system),
            uom_converter=self._convert_uom,
        )

    def _trial(self, definition, payloads, check, system=None):
        """How many of ``payloads`` a changed ``definition`` of this mapping maps
        into data that ``check(data)`` accepts; nothing is saved.

        :raise MappingError: when the changed definition is not valid
        """
        self.ensure_one()
        compiled = compile_mapping(definition, known_units=self._known_units())
        resolver = self._xref_resolver(system or self.system_id)
        passed = 0
        for payload in payloads:
            try:
                data = compiled.apply(
                    payload, resolver=resolver, uom_converter=self._convert_uom
                )
            except MappingError:
                continue
            passed += bool(check(data))
        return passed

    def export_definition(self):
        """Return the JSON-serialisable definition of the mapping."""
        self.ensure_one()
        return export_definition(self._definition())

    @api.model
    def import_definition(self, definition):
        """Create a mapping from a definition, or update the one with the same name.

        :param definition: a definition dict (or its JSON text)
        :return: the mapping
        :raise UserError: when the definition is not a valid mapping
        """
        try:
            definition = import_definition(definition)
        except MappingError as exc:
            raise UserError(exc.detail) from None
        event_type = self.env["mfg.integration.event.type"].get_by_code(
            definition.get("event_type") or ""
        )
        if not event_type:
            raise UserError(
                self.env._(
                    "The mapping is for the event type '%(code)s', which is not in the "
                    "catalogue.",
                    code=definition.get("event_type"),
                )
            )
        Line = self.env["mfg.integration.mapping.line"]
        values = {
            "name": definition["name"],
            "description": definition.get("description") or False,
            "direction": definition.get("direction") or "inbound",
            "event_type_id": event_type.id,
            "line_ids": [(5, 0, 0)]
            + [
                (0, 0, Line._values_from_definition(line, sequence))
                for sequence, line in enumerate(definition["lines"], start=1)
            ],
        }
        mapping = self.with_context(active_test=False).search(
            [("name", "=", definition["name"])], limit=1
        )
        if mapping:
            mapping.write(values)
        else:
            mapping = self.create(values)
        mapping._check_definition()
        return mapping

    @api.model
    def _import_file(self, module, path, xmlid=None, values=None):
        """Import a definition file shipped in a module (data and demo files).

        :param module: the module holding the file
        :param path: the file's path in the module
        :param xmlid: optional XML id (in ``module``) to give the mapping, so that
            other data records can refer to it
        :param values: optional extra field values (system, endpoint…); a file
            ``<name>.sample.json`` next to the definition becomes the sample input
        :return: the mapping
        """
        with file_open(f"{module}/{path}") as handle:
            mapping = self.import_definition(json.load(handle))
        values = dict(values or {})
        try:  # a sample input next to the definition: <name>.sample.json
            with file_open(f"{module}/{path[:-5]}.sample.json") as handle:
                values["sample_payload"] = handle.read()
        except FileNotFoundError:
            pass
        if values:
            mapping.write(values)
        if xmlid:
            self.env["ir.model.data"]._update_xmlids(
                [{"xml_id": f"{module}.{xmlid}", "record": mapping, "noupdate": True}]
            )
            self.env.registry.clear_cache()  # XML id lookups are cached
        return mapping

    # ------------------------------------------------------------------
    # Callbacks of the engine
    # ------------------------------------------------------------------

    def _xref_resolver(self, system):
        Xref = self.env["mfg.integration.xref"]

        def resolve(model, external_id, create, external_model):
            if not system:
                raise ValueError("cross-references need a system")
            record = Xref.lookup(system, external_model or model, external_id)
            if record is None and create:
                record = Xref._bind_by_name(system, model, external_model, external_id)
            if record is None:
                return None
            return record["name"] if "name" in record else record.display_name

        return resolve

    def _convert_uom(self, value, from_name, to_name):
        """Convert with Odoo's units of measure, or with the engine's own table for
        units Odoo does not have."""
        Uom = self.env["uom.uom"].sudo()
        source = Uom.search([("name", "=", from_name)], limit=1)
        target = Uom.search([("name", "=", to_name)], limit=1)
        if not (source and target):
            return builtin_convert(value, from_name, to_name)
        if not source._has_common_reference(target):
            raise ValueError(f"'{from_name}' cannot be converted to '{to_name}'")
        return source._compute_quantity(float(value), target, round=False)

    # ------------------------------------------------------------------
    # Pipelines
    # ------------------------------------------------------------------

    @api.model
    @tools.ormcache("system_id", "endpoint_id", "event_type_id")
    def _inbound_mapping_id(self, system_id, endpoint_id, event_type_id):
        """The inbound mapping for events of a type from a system (and endpoint):
        an endpoint's own mapping wins over a system-wide one."""
        domain = [
            ("direction", "=", "inbound"),
            ("event_type_id", "=", event_type_id),
            ("system_id", "=", system_id),
        ]
        mappings = self.sudo().search(domain)
        specific = mappings.filtered(lambda m: m.endpoint_id.id == endpoint_id)
        general = mappings.filtered(lambda m: not m.endpoint_id)
        return (specific or general)[:1].id or None

    # ------------------------------------------------------------------
    # UI actions
    # ------------------------------------------------------------------

    def action_test(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Test Mapping"),
            "res_model": "mfg.integration.mapping.test",
            "view_mode": "form",
            "target": "new",
            "context": {"default_mapping_id": self.id},
        }

    def action_export(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Export Mapping"),
            "res_model": "mfg.integration.mapping.transfer",
            "view_mode": "form",
            "target": "new",
            "context": {
                "default_definition": json.dumps(
                    self.export_definition(), indent=2, ensure_ascii=False
                ),
                "default_mapping_id": self.id,
            },
        }
