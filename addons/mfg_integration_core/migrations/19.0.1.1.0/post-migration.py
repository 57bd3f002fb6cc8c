def migrate(cr, version):
    """Messages are indexed on (system_id, direction, create_date) now: the
    index on system_id alone only costs on every insert."""
    cr.execute("DROP INDEX IF EXISTS mfg_integration_message__system_id_index")
