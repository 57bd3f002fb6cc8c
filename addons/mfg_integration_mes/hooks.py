def post_init_hook(env):
    """Systems created before this module was installed: their technical users get
    the MES flows' rights now (systems of kind MES)."""
    env["mfg.integration.system"].with_context(active_test=False).search(
        [("kind", "=", "mes")]
    )._sync_technical_user()
