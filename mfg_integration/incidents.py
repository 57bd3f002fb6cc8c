"""Dead letters grouped by cause.

Five hundred dead letters of one cause are one problem to repair, not five hundred.
The hub files each dead letter under an *incident*: the dead letters of one system,
direction and event type whose errors have the same class and the same *signature*.

The signature is the error text with its values masked, so that the same cause met
with other values reads the same:

- URLs become ``<url>``, UUIDs ``<uuid>``, ISO 8601 dates and times ``<time>``,
  hexadecimal digests (12 digits or more) ``<hex>``;
- quoted strings become ``'<value>'`` (or ``"<value>"``);
- numbers, alone or inside a word or a reference (``WO-0042``, ``P1002``), become
  ``<n>``;
- JSON pointers (``/data/lines/3/quantity``) are kept, because a value missing at
  another place is another cause; only their array indices are masked
  (``/data/lines/*/quantity``), because the same field of another line is the same
  cause;
- runs of white space become one space, and the signature is cut at
  :data:`MAX_SIGNATURE` characters.

:func:`fingerprint` turns the grouping key into the fixed-length identifier the hub
stores with a unique index.
"""

import hashlib
import re

__all__ = ["MAX_SIGNATURE", "error_pointers", "error_signature", "fingerprint"]

#: the longest signature kept (the rest of a long error text rarely names another cause)
MAX_SIGNATURE = 400

# a JSON pointer: starts a token (not inside a word, a path, a URL or a quoted
# string) with "/" and a name; its segments may be names or array indices
_POINTER = r"(?<![\w/:.~'\"-])/[A-Za-z_$@][\w$@.~-]*(?:/[\w$@.~-]*)*"
_INDEX = re.compile(r"^\d+$")

# one scan from left to right: the token that starts first wins (a pointer inside a
# quoted string is part of the string, a path inside a URL part of the URL); at one
# position, the first alternative that matches wins
_TOKENS = re.compile(
    "|".join(
        f"(?P<{name}>{pattern})"
        for name, pattern in (
            ("url", r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+"),
            (
                "uuid",
                r"(?i:\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b)",
            ),
            (
                "time",
                r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?"
                r"(?:Z|[+-]\d{2}:?\d{2})?)?\b",
            ),
            ("squote", r"(?<![\w<])'[^'\n]*'(?!\w)"),
            ("dquote", r'(?<![\w<])"[^"\n]*"(?!\w)'),
            ("pointer", _POINTER),
            ("hex", r"(?i:\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{12,}\b)"),
            ("number", r"\d+(?:[.,]\d+)*(?:[eE][-+]?\d+)?"),
        )
    )
)
_MASKS = {
    "url": "<url>",
    "uuid": "<uuid>",
    "time": "<time>",
    "squote": "'<value>'",
    "dquote": '"<value>"',
    "hex": "<hex>",
    "number": "<n>",
}
_SPACES = re.compile(r"\s+")


def _mask_indices(pointer):
    return "/".join("*" if _INDEX.match(part) else part for part in pointer.split("/"))


def _mask(match):
    if match.lastgroup == "pointer":
        return _mask_indices(match[0])
    return _MASKS[match.lastgroup]


def error_pointers(text):
    """The JSON pointers an error text names, in order, without repeats, their
    array indices masked."""
    seen = []
    for match in _TOKENS.finditer(text or ""):
        if match.lastgroup == "pointer":
            pointer = _mask_indices(match[0])
            if pointer not in seen:
                seen.append(pointer)
    return seen


def error_signature(text):
    """The error text with its values masked (see the module's documentation).

    >>> error_signature("/data/lines/3/qty: no product 'P-1002' (id 42)")
    "/data/lines/*/qty: no product '<value>' (id <n>)"
    """
    masked = _TOKENS.sub(_mask, text or "")
    return _SPACES.sub(" ", masked).strip()[:MAX_SIGNATURE]


def fingerprint(system, direction, event_type, error_class, signature):
    """The identifier of one incident: a SHA-256 digest (hexadecimal) of its
    grouping key. ``system`` and ``event_type`` are codes (or ids): any value that
    names them for good."""
    key = "\x1f".join(
        str(part or "")
        for part in (system, direction, event_type, error_class, signature)
    )
    return hashlib.sha256(key.encode("utf-8")).hexdigest()
