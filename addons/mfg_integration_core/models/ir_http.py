from odoo import models
from odoo.http import request

from ..controllers.main import PREFIX, MfgIntegrationApi


class IrHttp(models.AbstractModel):
    _inherit = "ir.http"

    @classmethod
    def _serve_fallback(cls):
        """A path under the API that no route matches (one the routes' converters
        refuse, such as an encoded new line) is answered like any unknown API
        route: a problem+json 404, not Odoo's HTML page."""
        path = request.httprequest.path
        if path == PREFIX or path.startswith(f"{PREFIX}/"):
            return MfgIntegrationApi().not_found()
        return super()._serve_fallback()
