{
    "name": "Manufacturing Integration: Maintenance",
    "summary": "Canonical downtime, maintenance and spare-part events for a CMMS",
    "version": "19.0.1.0.0",
    "category": "Manufacturing/Maintenance",
    "website": "https://github.com/mfg-integration/mfg_integration",
    "author": "mfg_integration contributors",
    "license": "LGPL-3",
    "development_status": "Alpha",
    "depends": ["mfg_integration_core", "maintenance", "stock"],
    "data": [
        "data/mfg_integration_event_type_data.xml",
    ],
    "demo": [
        "demo/mfg_integration_system_demo.xml",
    ],
    "installable": True,
}
