{
    "name": "Manufacturing Integration: Quality",
    "summary": "Canonical inspection, nonconformance and disposition events for a QMS",
    "version": "19.0.1.2.0",
    "category": "Manufacturing/Quality",
    "website": "https://github.com/mfg-integration/mfg_integration",
    "author": "mfg_integration contributors",
    "license": "LGPL-3",
    "development_status": "Alpha",
    "depends": [
        "mfg_integration_core",
        "mfg_integration_maintenance",
        "mrp",
        "stock",
        "quality_control_oca",
        "mgmtsystem_nonconformity",
    ],
    "data": [
        "security/mfg_integration_quality_security.xml",
        "data/mfg_integration_event_type_data.xml",
        "data/mfg_integration_quality_data.xml",
        "data/mgmtsystem_nonconformity_origin_data.xml",
        "data/mfg_integration_flow_data.xml",
        "views/quality_views.xml",
    ],
    "demo": [
        "demo/quality_demo.xml",
        "demo/mfg_integration_system_demo.xml",
    ],
    "post_init_hook": "post_init_hook",
    "installable": True,
    "assets": {
        "web.assets_tests": [
            "mfg_integration_quality/static/tests/tours/**/*",
        ],
    },
}
