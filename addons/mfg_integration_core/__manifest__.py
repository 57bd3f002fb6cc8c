{
    "name": "Manufacturing Integration Hub",
    "summary": "Governed integration hub for MES, QMS, CMMS, WMS, IoT and supplier "
    "systems: registry, API keys, event catalogue",
    "version": "19.0.1.0.0",
    "category": "Manufacturing/Manufacturing",
    "website": "https://github.com/mfg-integration/mfg_integration",
    "author": "mfg_integration contributors",
    "license": "LGPL-3",
    "development_status": "Alpha",
    "depends": ["mail", "queue_job"],
    "external_dependencies": {
        "python": [
            "mfg-integration",
            "cryptography",
            "jsonschema",
            "rfc3339-validator",
        ]
    },
    "data": [
        "security/mfg_integration_security.xml",
        "security/ir.model.access.csv",
        "data/mfg_integration_data.xml",
        "views/mfg_integration_system_views.xml",
        "views/mfg_integration_endpoint_views.xml",
        "views/mfg_integration_api_key_views.xml",
        "views/mfg_integration_event_type_views.xml",
        "views/mfg_integration_subscription_views.xml",
        "wizards/mfg_integration_message_wizard_views.xml",
        "views/mfg_integration_message_views.xml",
        "wizards/mfg_integration_api_key_wizard_views.xml",
        "wizards/mfg_integration_secret_reveal_views.xml",
        "views/menus.xml",
    ],
    "installable": True,
    "application": True,
}
