"""Masking of sensitive values in JSON payloads, by JSON pointer.

Administrators list the places of a payload that must never be shown (in message
views, logs, exports) as RFC 6901 JSON pointers, one per line. A segment ``*``
stands for every item of an array or every member of an object, at any depth, so
``/lines/*/serial`` masks the serial of every line. :func:`redact` returns a
masked deep copy and leaves its input alone; :func:`redact_json_text` does the
same for JSON text and never shows a payload it cannot parse when something in it
had to be hidden.
"""

import copy
import json
import re

DEFAULT_MASK = "***"
WILDCARD = "*"
NOT_JSON_PLACEHOLDER = "<payload hidden: not valid JSON>"

_BAD_ESCAPE = re.compile(r"~(?![01])")
_ARRAY_INDEX = re.compile(r"0|[1-9][0-9]*")


def _check_pointer(pointer):
    """Return the reason why ``pointer`` is not usable, or ``None`` when it is."""
    if not isinstance(pointer, str):
        return "a JSON pointer must be a string"
    if not pointer.startswith("/"):
        return "a JSON pointer must start with '/'"
    if _BAD_ESCAPE.search(pointer):
        return "'~' must be followed by '0' or '1' in a JSON pointer"
    return None


def parse_pointers(text):
    """Parse a list of JSON pointers, one per line.

    Blank lines and lines starting with ``#`` are ignored; surrounding spaces are
    removed.

    :param text: the text of the list
    :return: a tuple of pointers, in the order given
    :raise ValueError: naming the line number and the line that is not a pointer
    """
    pointers = []
    for number, raw in enumerate((text or "").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        reason = _check_pointer(line)
        if reason:
            raise ValueError(f"Line {number} ({line!r}) is not valid: {reason}.")
        pointers.append(line)
    return tuple(pointers)


def _tokens(pointer):
    """Split a pointer into tokens; ``None`` stands for the wildcard."""
    reason = _check_pointer(pointer)
    if reason:
        raise ValueError(f"{pointer!r} is not valid: {reason}.")
    tokens = []
    for raw in pointer.split("/")[1:]:
        if raw == WILDCARD:
            tokens.append(None)
        else:
            tokens.append(raw.replace("~1", "/").replace("~0", "~"))
    return tokens


def _matching_keys(node, token):
    if isinstance(node, dict):
        if token is None:
            return list(node)
        return [token] if token in node else []
    if isinstance(node, list):
        if token is None:
            return range(len(node))
        if _ARRAY_INDEX.fullmatch(token) and int(token) < len(node):
            return [int(token)]
    return []


def _mask_in(node, tokens, mask):
    head, rest = tokens[0], tokens[1:]
    for key in _matching_keys(node, head):
        if rest:
            _mask_in(node[key], rest, mask)
        else:
            node[key] = copy.deepcopy(mask)


def redact(value, pointers, mask=DEFAULT_MASK):
    """Return a deep copy of ``value`` with the value at each pointer masked.

    Paths that do not exist are ignored; array indices are decimal; ``~0`` and
    ``~1`` stand for ``~`` and ``/``; a ``*`` segment matches every array item or
    object member.

    :param value: a decoded JSON value; it is not modified
    :param pointers: an iterable of JSON pointers (a single string is one pointer)
    :param mask: the value that replaces each masked value
    :return: the masked copy
    :raise ValueError: when a pointer does not start with ``/`` or has a bad escape
    """
    if isinstance(pointers, str):
        pointers = (pointers,)
    token_lists = [_tokens(pointer) for pointer in pointers]
    result = copy.deepcopy(value)
    for tokens in token_lists:
        _mask_in(result, tokens, mask)
    return result


def redact_json_text(text, pointers, mask=DEFAULT_MASK, indent=2):
    """Mask the values at ``pointers`` in JSON text and pretty-print the result.

    :param text: the JSON text (``bytes`` are decoded as UTF-8, bad bytes replaced)
    :param pointers: an iterable of JSON pointers (a single string is one pointer)
    :param mask: the value that replaces each masked value
    :param indent: indentation of the output
    :return: the masked JSON text; when ``text`` is not JSON, ``text`` itself if
        there is nothing to mask, else :data:`NOT_JSON_PLACEHOLDER`, so that a
        secret in a broken payload is never shown; empty text stays empty
    :raise ValueError: when a pointer is not valid
    """
    if isinstance(pointers, str):
        pointers = (pointers,)
    pointers = tuple(pointers)
    for pointer in pointers:
        _tokens(pointer)
    if isinstance(text, bytes | bytearray):
        text = bytes(text).decode("utf-8", errors="replace")
    if not text:
        return text or ""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return NOT_JSON_PLACEHOLDER if pointers else text
    return json.dumps(redact(value, pointers, mask), indent=indent, ensure_ascii=False)


#: shorter sensitive values are not searched for in texts (masking every "7" of a
#: traceback would hide everything and protect nothing)
MIN_SCRUBBED_LENGTH = 3


def _leaf_texts(node, found):
    if isinstance(node, dict):
        for item in node.values():
            _leaf_texts(item, found)
    elif isinstance(node, list):
        for item in node:
            _leaf_texts(item, found)
    elif isinstance(node, str):
        # as written, and as repr() or JSON quote it in messages and tracebacks
        found.update({node, repr(node)[1:-1], json.dumps(node)[1:-1]})
    elif node is not None and not isinstance(node, bool):
        found.add(str(node))


def _collect(node, tokens, found):
    if not tokens:
        _leaf_texts(node, found)
        return
    head, rest = tokens[0], tokens[1:]
    for key in _matching_keys(node, head):
        _collect(node[key], rest, found)


def sensitive_values(value, pointers):
    """The texts of the values at ``pointers`` (for an object or an array, of
    every value in it) that no error text, note or log may show.

    :param value: a decoded JSON value
    :param pointers: an iterable of JSON pointers (a single string is one pointer)
    :return: a tuple of texts of at least :data:`MIN_SCRUBBED_LENGTH` characters,
        longest first
    :raise ValueError: when a pointer is not valid
    """
    if isinstance(pointers, str):
        pointers = (pointers,)
    found = set()
    for pointer in pointers:
        _collect(value, _tokens(pointer), found)
    return tuple(
        sorted(
            (text for text in found if len(text) >= MIN_SCRUBBED_LENGTH),
            key=lambda text: (-len(text), text),
        )
    )


def scrub(text, values, mask=DEFAULT_MASK):
    """Replace every occurrence of each of ``values`` in ``text`` by ``mask``.

    :param text: any text (an error message, a traceback, a response excerpt)
    :param values: texts to hide, as :func:`sensitive_values` returns them
    :return: the text without them (empty or None stays as it is)
    """
    if not text or not values:
        return text
    return re.sub("|".join(re.escape(value) for value in values), mask, text)
