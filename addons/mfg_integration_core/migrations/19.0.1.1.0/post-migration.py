def migrate(cr, version):
    """Messages are indexed on (system_id, direction, create_date) now, and what
    waits on (system_id, direction, next_attempt_at): the former indexes on
    system_id alone and on (system_id, next_attempt_at) only cost on every insert."""
    cr.execute("DROP INDEX IF EXISTS mfg_integration_message__system_id_index")
    cr.execute("DROP INDEX IF EXISTS mfg_integration_message_pending_idx")
