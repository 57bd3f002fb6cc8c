"""Error taxonomy shared by the hub and its clients.

Each error maps to one RFC 9457 problem type. The hub raises them and turns them
into ``application/problem+json`` answers; clients turn such answers back into the
same classes. Messages never contain a secret: callers pass descriptions, not the
offending values."""

PROBLEM_BASE_URI = "urn:mfg-integration:problem:"


class IntegrationError(Exception):
    """Base class of every error of the suite.

    :param detail: a human readable explanation, safe to show to the caller
    :param errors: optional list of ``{"pointer": ..., "message": ...}`` entries
    """

    status = 500
    slug = "internal-error"
    title = "Internal error"
    #: whether retrying the same request later may succeed
    retryable = False

    def __init__(self, detail="", errors=None):
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = list(errors or [])

    @property
    def type_uri(self):
        return PROBLEM_BASE_URI + self.slug

    def to_problem(self, instance=None):
        """Return the RFC 9457 problem document of this error."""
        problem = {
            "type": self.type_uri,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            problem["instance"] = instance
        if self.errors:
            problem["errors"] = self.errors
        return problem


class ConfigurationError(IntegrationError):
    """The hub or a client is not configured well enough to do what was asked."""

    slug = "configuration-error"
    title = "Configuration error"


class InvalidSecret(IntegrationError):
    """A secret (encryption key, webhook secret) has the wrong format."""

    status = 400
    slug = "invalid-secret"
    title = "Invalid secret"


class AuthenticationFailed(IntegrationError):
    """No valid credential: missing, unknown, malformed, expired or revoked."""

    status = 401
    slug = "unauthenticated"
    title = "Authentication failed"


class Forbidden(IntegrationError):
    """A valid credential that may not do what was asked."""

    status = 403
    slug = "forbidden"
    title = "Forbidden"


class SchemaInvalid(IntegrationError):
    """A JSON Schema document is not a valid Draft 2020-12 schema."""

    status = 422
    slug = "invalid-schema"
    title = "Invalid JSON Schema"


class ValidationFailed(IntegrationError):
    """A payload does not satisfy its JSON Schema; ``errors`` names each pointer."""

    status = 422
    slug = "validation-failed"
    title = "Validation failed"


class MalformedRequest(IntegrationError):
    """The body is not JSON, or not of the expected JSON shape."""

    status = 400
    slug = "malformed-request"
    title = "Malformed request"


class NotFound(IntegrationError):
    status = 404
    slug = "not-found"
    title = "Not found"


class MethodNotAllowed(IntegrationError):
    """The route exists but not for this method; ``allowed`` lists the methods."""

    status = 405
    slug = "method-not-allowed"
    title = "Method not allowed"

    def __init__(self, detail="", allowed=()):
        super().__init__(detail)
        self.allowed = tuple(allowed)


class PayloadTooLarge(IntegrationError):
    status = 413
    slug = "payload-too-large"
    title = "Payload too large"


class UnsupportedMediaType(IntegrationError):
    status = 415
    slug = "unsupported-media-type"
    title = "Unsupported media type"


class UnknownEventType(IntegrationError):
    status = 422
    slug = "unknown-event-type"
    title = "Unknown event type"


class RateLimited(IntegrationError):
    """Too many requests; ``retry_after`` is the number of seconds to wait."""

    status = 429
    slug = "rate-limited"
    title = "Too many requests"
    retryable = True

    def __init__(self, detail="", retry_after=1):
        super().__init__(detail)
        self.retry_after = max(1, int(retry_after))


class ServiceUnavailable(IntegrationError):
    status = 503
    slug = "service-unavailable"
    title = "Service unavailable"
    retryable = True


# Processing taxonomy: what happens to a message after it was accepted.


class TransientError(IntegrationError):
    """Processing failed for a reason that may go away: retry later."""

    slug = "transient-error"
    title = "Transient error"
    retryable = True


class PermanentError(IntegrationError):
    """Processing cannot succeed without a change: the message goes dead at once."""

    status = 422
    slug = "permanent-error"
    title = "Permanent error"


class MappingError(PermanentError):
    slug = "mapping-error"
    title = "Mapping error"


class NoHandler(PermanentError):
    slug = "no-handler"
    title = "No handler"


class BusinessRuleError(PermanentError):
    """The records exist but the action is not allowed now (finished order, lot not
    in quarantine…)."""

    slug = "business-rule"
    title = "Business rule violated"


class ReferenceNotFound(PermanentError):
    """A reference in the data names no record the sending system may use; the
    message names the JSON pointer and the value."""

    slug = "reference.not-found"
    title = "Reference not found"


class UnknownUnit(PermanentError):
    """A quantity's unit of measure is not a unit of Odoo, or cannot be converted to
    the unit of the record it is booked on."""

    slug = "uom.unknown"
    title = "Unknown unit of measure"


class IdempotencyKeyReused(IntegrationError):
    """An ``Idempotency-Key`` sent again with a different request body."""

    status = 422
    slug = "idempotency-key-reused"
    title = "Idempotency key reused"
