from odoo import SUPERUSER_ID, api


def migrate(cr, version):
    """Nonconformities opened from the QMS before 19.0.1.2.0 had no origin (a field
    the nonconformity form requires): give them the one of where they were found."""
    env = api.Environment(cr, SUPERUSER_ID, {})
    Nonconformity = env["mgmtsystem.nonconformity"].with_context(active_test=False)
    for nonconformity in Nonconformity.search(
        [("mfg_origin", "!=", False), ("origin_ids", "=", False)]
    ):
        nonconformity.origin_ids = Nonconformity._mfg_origin_records(
            nonconformity.mfg_origin
        )
