{
    "name": "Manufacturing Integration: Maintenance",
    "summary": "Canonical downtime, maintenance and spare-part events for a CMMS",
    "version": "19.0.1.2.0",
    "category": "Manufacturing/Maintenance",
    "website": "https://github.com/mfg-integration/mfg_integration",
    "author": "mfg_integration contributors",
    "license": "LGPL-3",
    "development_status": "Alpha",
    "depends": ["mfg_integration_core", "maintenance", "mrp", "stock"],
    "data": [
        "security/mfg_integration_maintenance_security.xml",
        "security/ir.model.access.csv",
        "data/mfg_integration_event_type_data.xml",
        "data/mfg_integration_maintenance_data.xml",
        "views/maintenance_views.xml",
        "views/mfg_integration_downtime_views.xml",
    ],
    "demo": [
        "demo/maintenance_demo.xml",
        "demo/mfg_integration_system_demo.xml",
    ],
    "post_init_hook": "post_init_hook",
    "installable": True,
    "assets": {
        "web.assets_tests": [
            "mfg_integration_maintenance/static/tests/tours/**/*",
        ],
    },
}
