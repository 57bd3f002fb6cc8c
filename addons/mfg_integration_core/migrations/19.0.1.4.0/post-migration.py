from odoo import SUPERUSER_ID, api


def migrate(cr, version):
    """Dead letters are filed under incidents from 19.0.1.4.0 on: file the ones that
    are already there, so that the incidents show every open cause (each new
    incident gives its system's responsible person one to-do)."""
    env = api.Environment(cr, SUPERUSER_ID, {})
    Message = env["mfg.integration.message"]
    dead = Message.search([("state", "=", "dead"), ("incident_id", "=", False)])
    for start in range(0, len(dead), 1000):
        env["mfg.integration.incident"]._file(dead[start : start + 1000])
