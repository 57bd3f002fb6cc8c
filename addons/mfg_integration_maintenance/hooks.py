def post_init_hook(env):
    """Systems created before this module was installed: their technical users get
    the maintenance flows' rights now (MES, CMMS and IoT systems)."""
    env["mfg.integration.system"].with_context(active_test=False).search(
        [("kind", "in", ["mes", "cmms", "iot"])]
    )._sync_technical_user()
