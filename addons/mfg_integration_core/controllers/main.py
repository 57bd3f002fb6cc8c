"""HTTP API v1 of the hub (``/api/mfg/v1``): thin adapters over the ingress service.

Each route authenticates, reads the body within its size limit, calls one method of
``mfg.integration.ingress`` and turns the outcome into an HTTP answer. Errors are RFC
9457 ``application/problem+json`` documents; every answer carries ``X-Correlation-ID``.
"""

import json
import logging
import re
from functools import partial

from psycopg2 import OperationalError

from odoo import http
from odoo.http import request

from mfg_integration import errors

_logger = logging.getLogger(__name__)

PREFIX = "/api/mfg/v1"
_CORRELATION_RE = re.compile(r"^[A-Za-z0-9._:/+=@-]{1,128}$")
#: seconds a client is asked to wait when the database cannot be used
NO_DATABASE_RETRY_AFTER = 5

#: machine-to-machine routes: no session, no CSRF token, authentication by the API
#: itself (read-only by default: such routes may use a read replica)
api_route = partial(
    http.route, type="http", auth="none", csrf=False, save_session=False
)


def _json_response(status, body, headers, content_type="application/json"):
    """An answer: ``body`` as JSON, or as is when it is bytes (then ``headers``
    name its ``Content-Type``)."""
    if isinstance(body, bytes):
        return request.make_response(body, headers=list(headers.items()), status=status)
    return request.make_response(
        json.dumps(body, ensure_ascii=False),
        headers=[("Content-Type", content_type), *headers.items()],
        status=status,
    )


class MfgIntegrationApi(http.Controller):
    # ------------------------------------------------------------------
    # Plumbing shared by every route
    # ------------------------------------------------------------------

    def _correlation_id(self):
        given = request.httprequest.headers.get("X-Correlation-ID", "")
        if _CORRELATION_RE.match(given):
            return given
        return request.env["mfg.integration.ingress"].sudo().new_correlation_id()

    def _serve(self, allowed, handler, bearer=False, route=None):
        """Run ``handler(correlation_id)`` for an allowed method and answer; the
        answers of an ingress ``route`` are counted in the ``requests`` metric."""
        response = self._answer(allowed, handler, bearer)
        if route and request.db:
            request.env["mfg.integration.metric"].sudo()._count(
                "requests", route=route, status=str(response.status_code)
            )
        return response

    def _answer(self, allowed, handler, bearer):
        if not request.db:
            # Odoo serves a request without a database when it cannot use the
            # database (PostgreSQL restarting or unreachable): with this addon among
            # the server-wide modules, the request gets here and the client is told
            # to try again, instead of Odoo's "404 Not Found", which clients take as
            # final.
            problem = errors.ServiceUnavailable(
                "The hub's database is unavailable right now; nothing was stored. "
                f"Send again in {NO_DATABASE_RETRY_AFTER} seconds."
            ).to_problem(instance=request.httprequest.path)
            return _json_response(
                503,
                problem,
                {"Retry-After": str(NO_DATABASE_RETRY_AFTER)},
                "application/problem+json",
            )
        correlation_id = self._correlation_id()
        headers = {"X-Correlation-ID": correlation_id}
        try:
            if request.httprequest.method not in allowed:
                raise errors.MethodNotAllowed(
                    f"Use {' or '.join(allowed)} on this route.", allowed=allowed
                )
            status, body, extra = handler(correlation_id)
        except errors.IntegrationError as exc:
            request.env.cr.rollback()
            if isinstance(exc, errors.AuthenticationFailed) and bearer:
                headers["WWW-Authenticate"] = 'Bearer realm="mfg-integration"'
            if isinstance(exc, errors.RateLimited):
                headers["Retry-After"] = str(exc.retry_after)
            if isinstance(exc, errors.MethodNotAllowed):
                headers["Allow"] = ", ".join(exc.allowed)
            problem = exc.to_problem(instance=request.httprequest.path)
            problem["correlation_id"] = correlation_id
            return _json_response(
                exc.status, problem, headers, "application/problem+json"
            )
        except OperationalError:
            raise  # concurrency errors: Odoo retries the whole request
        except Exception:
            request.env.cr.rollback()
            _logger.exception("Unexpected error, correlation id %s", correlation_id)
            problem = errors.IntegrationError(
                "The request could not be processed; nothing was stored. Quote the "
                "correlation id when reporting it."
            ).to_problem(instance=request.httprequest.path)
            problem["correlation_id"] = correlation_id
            return _json_response(500, problem, headers, "application/problem+json")
        headers.update(extra)
        return _json_response(status, body, headers)

    def _authenticate(self):
        """Authenticate the bearer key and continue as its system's technical user."""
        authorization = request.httprequest.headers.get("Authorization", "")
        scheme, _sep, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise errors.AuthenticationFailed(
                "Send the API key as 'Authorization: Bearer <key>'."
            )
        key = (
            request.env["mfg.integration.api.key"]
            .sudo()
            ._authenticate(token.strip(), remote_addr=request.httprequest.remote_addr)
        )
        request.env["mfg.integration.ingress"].sudo()._check_rate_limit(key)
        request.update_env(user=key.user_id.id)
        return key

    def _operator(self, required):
        """Whether the caller may read the hub's operational details (metrics,
        health details): it sends an API key with the metrics scope, or calls
        from a network of ``mfg_integration.metrics_allowed_networks``.

        :raise AuthenticationFailed: when ``required`` and the caller is neither,
            or when a key is sent that does not authenticate
        :raise Forbidden: when the key sent has no metrics scope
        """
        if request.httprequest.headers.get("Authorization"):
            self._authenticate()._check_metrics_scope()
            return True
        Ingress = request.env["mfg.integration.ingress"].sudo()
        if Ingress._metrics_address_allowed(request.httprequest.remote_addr):
            return True
        if required:
            raise errors.AuthenticationFailed(
                "Send an API key with the metrics scope as 'Authorization: Bearer "
                "<key>', or call from a network allowed to read metrics."
            )
        return False

    def _read_body(self, limit):
        """Read the request body, refusing more than ``limit`` bytes: from the
        declared ``Content-Length`` before reading, and while reading.

        The body is kept on the request so that a request retried by Odoo after a
        concurrency error reads the same bytes again.
        """
        httprequest = request.httprequest
        cached = getattr(httprequest, "_mfg_integration_body", None)
        if cached is not None:
            return cached
        declared = httprequest.content_length
        if declared is not None and declared > limit:
            raise errors.PayloadTooLarge(f"The body may hold at most {limit} bytes.")
        # Odoo 19's request wrapper does not expose the input stream; the werkzeug
        # request it wraps does (bounded by Content-Length, or chunked).
        wrapped = getattr(httprequest, "_HTTPRequest__wrapped", None)
        if wrapped is not None:
            body = wrapped.stream.read(limit + 1)
        else:
            body = httprequest.get_data()
        if len(body) > limit:
            raise errors.PayloadTooLarge(f"The body may hold at most {limit} bytes.")
        httprequest._mfg_integration_body = body
        return body

    def _media_type(self):
        return request.httprequest.mimetype or ""

    # ------------------------------------------------------------------
    # Routes
    # ------------------------------------------------------------------

    @api_route(f"{PREFIX}/events", readonly=False)
    def events(self, **_kw):
        def handler(correlation_id):
            key = self._authenticate()
            return request.env["mfg.integration.ingress"].receive_events(
                key,
                self._media_type(),
                self._read_body,
                correlation_id,
                request.httprequest.headers.get("Idempotency-Key"),
            )

        return self._serve(("POST",), handler, bearer=True, route="events")

    @api_route(f"{PREFIX}/webhooks/<string:code>", readonly=False)
    def webhook(self, code, **_kw):
        return self._signed("receive_webhook", code, route="webhooks")

    @api_route(f"{PREFIX}/feeds/<string:code>", readonly=False)
    def feed(self, code, **_kw):
        return self._signed("receive_feed", code, route="feeds")

    def _signed(self, method, code, route):
        """Serve a request signed with an inbound endpoint's secret (Standard
        Webhooks): a system's webhook, or a broker feed's consumer."""

        def handler(correlation_id):
            ingress = request.env["mfg.integration.ingress"].sudo()
            return getattr(ingress, method)(
                code,
                self._media_type(),
                dict(request.httprequest.headers),
                self._read_body,
                correlation_id,
            )

        return self._serve(("POST",), handler, route=route)

    @api_route(f"{PREFIX}/messages/<int:message_id>", readonly=False)
    def message(self, message_id, **_kw):
        def handler(_correlation_id):
            key = self._authenticate()
            return request.env["mfg.integration.ingress"].message_status(
                key, message_id
            )

        return self._serve(("GET",), handler, bearer=True)

    @api_route(f"{PREFIX}/openapi.json")
    def openapi(self, **_kw):
        def handler(_correlation_id):
            return (
                request.env["mfg.integration.ingress"]
                .sudo()
                .openapi_document(request.httprequest.host_url.rstrip("/"))
            )

        return self._serve(("GET",), handler)

    @api_route(f"{PREFIX}/asyncapi.json")
    def asyncapi(self, **_kw):
        def handler(_correlation_id):
            return (
                request.env["mfg.integration.ingress"]
                .sudo()
                .asyncapi_document(request.httprequest.host_url.rstrip("/"))
            )

        return self._serve(("GET",), handler)

    # read/write like every route that may authenticate a key: its rate limit
    # counts on a connection of its own, which must be read/write

    @api_route(f"{PREFIX}/health", readonly=False)
    def health(self, **_kw):
        def handler(_correlation_id):
            details = self._operator(required=False)
            return request.env["mfg.integration.ingress"].sudo().health(details)

        return self._serve(("GET",), handler, bearer=True)

    @api_route(f"{PREFIX}/metrics", readonly=False)
    def metrics(self, **_kw):
        def handler(_correlation_id):
            self._operator(required=True)
            return request.env["mfg.integration.metric"].sudo().exposition()

        return self._serve(("GET",), handler, bearer=True)

    @api_route([PREFIX, f"{PREFIX}/<path:_rest>"])
    def not_found(self, **_kw):
        def handler(_correlation_id):
            raise errors.NotFound(
                f"No such route: {request.httprequest.path}. See {PREFIX}/openapi.json."
            )

        return self._serve(
            ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"), handler
        )
