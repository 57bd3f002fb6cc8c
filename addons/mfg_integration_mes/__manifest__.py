{
    "name": "Manufacturing Integration: MES",
    "summary": "Canonical production and shop-floor events exchanged with a MES",
    "version": "19.0.1.2.0",
    "category": "Manufacturing/Manufacturing",
    "website": "https://github.com/mfg-integration/mfg_integration",
    "author": "mfg_integration contributors",
    "license": "LGPL-3",
    "development_status": "Alpha",
    "depends": ["mfg_integration_core", "mrp"],
    "data": [
        "security/mfg_integration_mes_security.xml",
        "data/mfg_integration_event_type_data.xml",
        "data/mfg_integration_flow_data.xml",
        "views/mrp_production_views.xml",
    ],
    "demo": [
        "demo/mrp_demo.xml",
        "demo/mfg_integration_system_demo.xml",
        "demo/mfg_integration_slo_demo.xml",
    ],
    "post_init_hook": "post_init_hook",
    "installable": True,
    "assets": {
        "web.assets_tests": [
            "mfg_integration_mes/static/tests/tours/**/*",
        ],
    },
}
