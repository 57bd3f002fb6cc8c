def post_init_hook(env):
    """Existing warehouses get their quarantine location; systems created before
    this module was installed get the quality flows' rights (QMS systems)."""
    env["stock.warehouse"].with_context(active_test=False).search(
        []
    )._mfg_ensure_quarantine()
    env["mfg.integration.system"].with_context(active_test=False).search(
        [("kind", "=", "qms")]
    )._sync_technical_user()
