"""Protocol kit of the mfg_integration suite.

Everything here is plain Python shared by the Odoo addons and by external systems:
API key handling, encryption of stored secrets, Standard Webhooks secrets, JSON
Schema checking and validation, network allow-lists and the error taxonomy. Nothing
in this package imports Odoo."""

__version__ = "0.1.0"
