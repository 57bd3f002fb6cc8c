import json

from odoo import api, fields, models

from mfg_integration.errors import MappingError


class MfgIntegrationMappingTest(models.TransientModel):
    """Runs a mapping on a sample and shows the result or the failing line."""

    _name = "mfg.integration.mapping.test"
    _description = "Test an Integration Mapping"

    mapping_id = fields.Many2one("mfg.integration.mapping", required=True)
    sample = fields.Text(
        help="Input to map, as JSON. The event type's examples are offered for "
        "outbound mappings."
    )
    example_index = fields.Integer(default=0, string="Example")
    example_count = fields.Integer(compute="_compute_example_count")
    result = fields.Text(readonly=True)
    error = fields.Text(readonly=True)

    @api.depends("mapping_id")
    def _compute_example_count(self):
        for wizard in self:
            # canonical examples are inputs of outbound mappings only
            outbound = wizard.mapping_id.direction == "outbound"
            wizard.example_count = len(wizard._examples()) if outbound else 0

    def _examples(self):
        schema = self.mapping_id.event_type_id.current_schema_id
        return schema.get_schema().get("examples", []) if schema else []

    @api.model
    def default_get(self, fields_list):
        values = super().default_get(fields_list)
        mapping = self.env["mfg.integration.mapping"].browse(values.get("mapping_id"))
        if mapping and not values.get("sample"):
            schema = mapping.event_type_id.current_schema_id
            examples = schema.get_schema().get("examples", []) if schema else []
            if mapping.sample_payload:
                values["sample"] = mapping.sample_payload
            elif examples and mapping.direction == "outbound":
                values["sample"] = json.dumps(examples[0], indent=2, ensure_ascii=False)
        return values

    def action_use_example(self):
        """Put the next example of the event type's schema in the sample."""
        self.ensure_one()
        examples = self._examples()
        if examples:
            index = self.example_index % len(examples)
            self.write(
                {
                    "sample": json.dumps(examples[index], indent=2, ensure_ascii=False),
                    "example_index": index + 1,
                    "result": False,
                    "error": False,
                }
            )
        return self._reopen()

    def action_run(self):
        """Map the sample and show the result next to it, or the errors."""
        self.ensure_one()
        try:
            payload = json.loads(self.sample or "null")
        except ValueError as exc:
            self.write({"result": False, "error": f"The sample is not JSON: {exc}"})
            return self._reopen()
        try:
            result = self.mapping_id.apply(payload)
        except MappingError as exc:
            lines = [exc.detail] + [
                f"{e['pointer']}: {e['message']}" for e in exc.errors[1:]
            ]
            self.write({"result": False, "error": "\n".join(lines)})
        else:
            self.write(
                {
                    "result": json.dumps(result, indent=2, ensure_ascii=False),
                    "error": False,
                }
            )
        return self._reopen()

    def _reopen(self):
        return {
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "target": "new",
            "name": self.env._("Test Mapping"),
        }
