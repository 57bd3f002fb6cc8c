"""Repair suggestions for dead letters: what to change so that they go through.

Deterministic and explainable: plain string and type similarity over the failing
payloads, no model, nothing sent off the machine. Each :class:`Suggestion` carries a
``reason`` that says why it is offered, and a ``score`` between 0 and 1 that orders
the suggestions (the same inputs always give the same suggestions, in the same
order).

Four kinds of failure get suggestions:

``source`` (a value is missing)
    The schema requires a field that the mapping did not produce (the line's source
    finds nothing, or no line produces it). Candidates are the fields of the failing
    payloads that no other line reads; each is scored by how much its name looks like
    the target's (words compared after splitting ``camelCase``, ``snake_case`` and
    ``kebab-case`` and expanding usual abbreviations such as ``qty``), whether its
    values have the type the schema wants, and in how many failing payloads it is
    present. Applied: the target's line reads the suggested field (a new line when
    there is none).
``value_map`` (a value is not one the schema allows)
    The value looks like an allowed one: the same words with other case or
    separators (``in-progress`` for ``in_progress``), or a close spelling. Applied: a
    pair in a ``value_map`` of the target's line (added, not strict, when the line
    has none).
``unit`` (a unit Odoo does not know)
    The unit is a usual alias of a unit Odoo knows (``pcs`` for ``Units``, ``kgs``
    for ``kg``…, see :data:`UNIT_ALIASES`), or spelled like one. Applied as a
    ``value_map`` pair too.
``xref`` (a reference names no record)
    A record matches the value by another key (its name, barcode…): see
    :func:`rank_records`. Applied: a cross-reference of the system (no mapping
    change).

The mapping changes are made on the mapping's JSON definition
(:func:`apply_to_definition`), so that the hub can test them on the failing payloads
before saving them.
"""

import ast
import difflib
import re
from collections import Counter
from dataclasses import dataclass, field

__all__ = [
    "ABBREVIATIONS",
    "UNIT_ALIASES",
    "Suggestion",
    "apply_to_definition",
    "enum_candidates",
    "enum_value",
    "failing_places",
    "name_similarity",
    "payload_fields",
    "pointer_target",
    "rank_records",
    "schema_at",
    "source_candidates",
    "unit_candidates",
    "value_at",
]

#: abbreviations of field names, expanded before names are compared
ABBREVIATIONS = {
    "qty": "quantity",
    "quant": "quantity",
    "amt": "amount",
    "uom": "unit",
    "unit_of_measure": "unit",
    "wo": "work order",
    "mo": "manufacturing order",
    "ref": "reference",
    "no": "number",
    "nr": "number",
    "num": "number",
    "desc": "description",
    "loc": "location",
    "ts": "timestamp",
    "dt": "date",
    "pn": "part number",
    "sku": "product code",
    "sn": "serial number",
    "wc": "work center",
    "equip": "equipment",
    "eqp": "equipment",
    "prod": "product",
    "dur": "duration",
    "temp": "temperature",
    "msg": "message",
    "err": "error",
    "stat": "status",
    "cnt": "count",
}

#: usual aliases of unit names (compared ignoring case)
UNIT_ALIASES = {
    "Units": ("pcs", "pc", "piece", "pieces", "ea", "each", "unit", "stk", "st"),
    "Dozens": ("dozen", "dz", "doz"),
    "kg": ("kgs", "kilo", "kilos", "kilogram", "kilograms"),
    "g": ("gr", "grs", "gram", "grams", "gramme"),
    "t": ("ton", "tons", "tonne", "tonnes"),
    "mg": ("milligram", "milligrams"),
    "L": ("l", "lt", "ltr", "liter", "liters", "litre", "litres"),
    "ml": ("milliliter", "milliliters", "millilitre"),
    "m": ("meter", "meters", "metre", "metres", "mtr"),
    "cm": ("centimeter", "centimeters", "centimetre"),
    "mm": ("millimeter", "millimeters", "millimetre"),
    "km": ("kilometer", "kilometers", "kilometre"),
    "m²": ("m2", "sqm", "square meter", "square meters"),
    "m³": ("m3", "cbm", "cubic meter", "cubic meters"),
    "Hours": ("h", "hr", "hrs", "hour"),
    "Minutes": ("min", "mins", "minute"),
    "Days": ("d", "day"),
    "s": ("sec", "secs", "second", "seconds"),
}

#: the least name similarity for a field to be suggested as a source
MIN_NAME_SIMILARITY = 0.35
#: the least spelling similarity for a value, unit or record to be suggested
MIN_SPELLING_SIMILARITY = 0.8
#: how many suggestions of one kind are offered for one place
TOP = 3

_NOT_ONE_OF = re.compile(r"(?P<value>.+?) is not one of \[", re.DOTALL)
_WORD_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SEPARATORS = re.compile(r"[^A-Za-z0-9]+")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_JSON_TYPES = {
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
    "null": (type(None),),
}


@dataclass(frozen=True)
class Suggestion:
    """One suggested fix.

    :param kind: ``source``, ``value_map``, ``unit`` or ``xref``
    :param pointer: the failing JSON pointer (``/data/quantity``)
    :param target: the mapping target it changes (``quantity``), for mapping kinds
    :param score: 0 to 1; higher is likelier
    :param reason: why it is suggested, in plain words
    :param change: what applying it does: ``{"source": path}`` for ``source``,
        ``{"from": value, "to": value}`` for ``value_map`` and ``unit``,
        ``{"kind", "value", "record_id"}`` for ``xref``
    """

    kind: str
    pointer: str
    target: str
    score: float
    reason: str
    change: dict = field(default_factory=dict)

    @property
    def title(self):
        change = self.change
        if self.kind == "source":
            return f"Read {self.target} from {change['source']}"
        if self.kind in ("value_map", "unit"):
            return f"Map {change['from']!r} to {change['to']!r} for {self.target}"
        return (
            f"Bind {change['value']!r} to {change.get('label') or change['record_id']}"
        )

    def as_dict(self):
        return {
            "kind": self.kind,
            "pointer": self.pointer,
            "target": self.target,
            "score": self.score,
            "reason": self.reason,
            "change": dict(self.change),
            "title": self.title,
        }


# ---------------------------------------------------------------------------
# Names and spellings


def _words(name):
    """The lower-case words of a field name or path, abbreviations expanded."""
    words = []
    for part in _SEPARATORS.split(_WORD_BOUNDARY.sub(" ", str(name))):
        for word in part.split():
            word = word.lower()
            words += ABBREVIATIONS.get(word, word).split()
    return words


def name_similarity(first, second):
    """How much two field names (or dotted paths) look alike, from 0 to 1: the mean
    of the share of words they have in common and the spelling similarity of their
    words."""
    a, b = _words(first), _words(second)
    if not a or not b:
        return 0.0
    shared = len(set(a) & set(b)) / len(set(a) | set(b))
    spelling = difflib.SequenceMatcher(None, " ".join(a), " ".join(b)).ratio()
    return round((shared + spelling) / 2, 4)


def _spelling_key(value):
    return _SEPARATORS.sub("_", str(value).strip().lower()).strip("_")


def _spelling_match(value, candidate):
    """``(score, why)`` of a value against an allowed one."""
    if _spelling_key(value) == _spelling_key(candidate):
        return 1.0, "the same words, with other case or separators"
    if _spelling_key(value).replace("_", "") == _spelling_key(candidate).replace(
        "_", ""
    ):
        return 0.95, "the same letters and digits, without separators"
    ratio = difflib.SequenceMatcher(
        None, _spelling_key(value), _spelling_key(candidate)
    ).ratio()
    return round(ratio, 4), f"a close spelling ({ratio:.0%} alike)"


# ---------------------------------------------------------------------------
# Schemas and payloads


def pointer_target(pointer, base="/data"):
    """The dotted mapping target of a JSON pointer below ``base`` (``/data/a/0/b``
    gives ``a.0.b``), or None for a pointer elsewhere."""
    if pointer == base or not pointer.startswith(base + "/"):
        return None
    parts = pointer[len(base) + 1 :].split("/")
    return ".".join(p.replace("~1", "/").replace("~0", "~") for p in parts)


def schema_at(schema, target):
    """The subschema of a dotted target path (``properties`` and ``items`` only;
    ``{}`` when the schema says nothing of it)."""
    node = schema or {}
    for part in target.split(".") if target else []:
        if not isinstance(node, dict):
            return {}
        if part.isdigit() and isinstance(node.get("items"), dict):
            node = node["items"]
        else:
            node = (node.get("properties") or {}).get(part, {})
    return node if isinstance(node, dict) else {}


def value_at(data, target):
    """The value at a dotted target path of ``data``, or None."""
    node = data
    for part in target.split(".") if target else []:
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return None
    return node


def enum_value(message):
    """The value that a schema violation ``'x' is not one of [...]`` names (as
    :mod:`mfg_integration.schemas` words it), or None for another message."""
    match = _NOT_ONE_OF.match(message or "")
    if match is None:
        return None
    try:
        return ast.literal_eval(match["value"])
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None


@dataclass
class Places:
    """What the failing messages' error details name, by kind of failure:
    ``missing`` pointers, and by pointer the :class:`~collections.Counter` of the
    disallowed ``values``, unknown ``units`` and, by ``(pointer, kind)``,
    unresolved ``references``."""

    missing: set = field(default_factory=set)
    values: dict = field(default_factory=dict)
    units: dict = field(default_factory=dict)
    references: dict = field(default_factory=dict)


def failing_places(details_of_messages):
    """Sort the error details of failing messages (each a list of ``{"pointer",
    "message", "kind"?, "value"?}`` as the hub stores them) into :class:`Places`.

    A value is missing when the schema requires it (``is required``) or when the
    mapping produced ``null`` for it (``None is not of type …``).
    """
    places = Places()
    for details in details_of_messages:
        for detail in details or []:
            pointer = detail.get("pointer") or ""
            text = detail.get("message") or ""
            kind, value = detail.get("kind"), detail.get("value")
            if text == "is required" or text.startswith("None is not of type"):
                places.missing.add(pointer)
            elif kind == "uom" and value:
                places.units.setdefault(pointer, Counter())[value] += 1
            elif kind and value:
                places.references.setdefault((pointer, kind), Counter())[value] += 1
            elif (disallowed := enum_value(text)) is not None:
                places.values.setdefault(pointer, Counter())[disallowed] += 1
    return places


def _quote(name):
    return name if _IDENTIFIER.match(name) else '"' + name.replace('"', '\\"') + '"'


def payload_fields(payload, prefix=""):
    """``(path, value)`` of every field of a payload, as JMESPath expressions
    (``a.b``, ``items[0].code``, ``"odd-name"``); objects and lists are listed as
    well as their fields, and a list only through its first element."""
    found = []
    if isinstance(payload, dict):
        for key, value in payload.items():
            path = f"{prefix}.{_quote(key)}" if prefix else _quote(key)
            found.append((path, value))
            found += payload_fields(value, path)
    elif isinstance(payload, list) and payload:
        path = f"{prefix}[0]"
        found.append((path, payload[0]))
        found += payload_fields(payload[0], path)
    return found


def _type_share(values, expected):
    """The share of ``values`` that have one of the ``expected`` JSON types (a
    numeric text counts half for a number)."""
    if not values:
        return 0.0
    if not expected:
        return 1.0
    score = 0.0
    for value in values:
        for name in expected:
            kinds = _JSON_TYPES.get(name, ())
            if isinstance(value, kinds) and not (
                isinstance(value, bool) and name in ("number", "integer")
            ):
                score += 1
                break
            if name in ("number", "integer") and isinstance(value, str):
                try:
                    float(value)
                except ValueError:
                    continue
                score += 0.5
                break
    return score / len(values)


def _types_of(subschema):
    kind = subschema.get("type")
    if isinstance(kind, str):
        return [kind]
    if isinstance(kind, list):
        return [k for k in kind if isinstance(k, str)]
    if "enum" in subschema:
        return sorted({_json_type(v) for v in subschema["enum"]})
    return []


def _json_type(value):
    for name, kinds in _JSON_TYPES.items():
        if isinstance(value, kinds) and not (
            isinstance(value, bool) and name != "boolean"
        ):
            return name
    return "string"


# ---------------------------------------------------------------------------
# Suggestions


def source_candidates(pointer, schema, payloads, used_sources=()):
    """Fields of the failing payloads that most likely hold the value missing at
    ``pointer``: at most :data:`TOP` ``source`` suggestions, best first.

    :param schema: the event type's schema (of the event's ``data``)
    :param payloads: the failing payloads (as received)
    :param used_sources: the sources other mapping lines read (not suggested)
    """
    target = pointer_target(pointer)
    if not target or not payloads:
        return []
    expected = _types_of(schema_at(schema, target))
    # the target's words: a generic last name (value, code…) takes its parent's
    names = target.split(".")
    wanted = [names[-1], ".".join(n for n in names if not n.isdigit())]
    by_path = {}
    for payload in payloads:
        seen = set()
        for path, value in payload_fields(payload):
            if path in seen:
                continue
            seen.add(path)
            by_path.setdefault(path, []).append(value)
    used = set(used_sources)
    suggestions = []
    for path, values in by_path.items():
        if path in used:
            continue
        similarity = max(name_similarity(path.split(".")[-1], w) for w in wanted)
        similarity = max(similarity, name_similarity(path, wanted[1]))
        if similarity < MIN_NAME_SIMILARITY:
            continue
        present = [v for v in values if v is not None]
        types = _type_share(present, expected)
        presence = len(present) / len(payloads)
        if not present or (expected and types == 0):
            continue
        score = round(0.55 * similarity + 0.25 * types + 0.20 * presence, 4)
        wanted_type = " or ".join(expected) or "value"
        suggestions.append(
            Suggestion(
                kind="source",
                pointer=pointer,
                target=target,
                score=score,
                reason=(
                    f"'{path}' is named like '{target}' ({similarity:.0%} alike), "
                    f"is present in {len(present)} of {len(payloads)} failing "
                    f"payloads, and {types:.0%} of its values are a {wanted_type}."
                ),
                change={"source": path},
            )
        )
    suggestions.sort(key=lambda s: (-s.score, s.change["source"]))
    return suggestions[:TOP]


def enum_candidates(pointer, value, allowed):
    """``value_map`` suggestions for a value at ``pointer`` that is not one of
    ``allowed`` (the schema's ``enum``), best first."""
    target = pointer_target(pointer) or pointer
    suggestions = []
    for candidate in allowed:
        if not isinstance(candidate, str) or not isinstance(value, str):
            continue
        score, why = _spelling_match(value, candidate)
        if score < MIN_SPELLING_SIMILARITY:
            continue
        suggestions.append(
            Suggestion(
                kind="value_map",
                pointer=pointer,
                target=target,
                score=score,
                reason=f"'{value}' is not allowed; '{candidate}' is {why}.",
                change={"from": value, "to": candidate},
            )
        )
    suggestions.sort(key=lambda s: (-s.score, s.change["to"]))
    return suggestions[:TOP]


def unit_candidates(pointer, value, known_units):
    """``unit`` suggestions for a unit name Odoo does not know, best first: a known
    unit of which it is a usual alias, else known units spelled like it."""
    if not isinstance(value, str):
        return []
    target = pointer_target(pointer) or pointer
    known = {unit.lower(): unit for unit in known_units}
    key = value.strip().lower()
    suggestions = []
    for unit, aliases in UNIT_ALIASES.items():
        if unit.lower() in known and (key in aliases or key == unit.lower()):
            suggestions.append(
                Suggestion(
                    kind="unit",
                    pointer=pointer,
                    target=target,
                    score=1.0,
                    reason=f"'{value}' is a usual name of the unit "
                    f"'{known[unit.lower()]}'.",
                    change={"from": value, "to": known[unit.lower()]},
                )
            )
    if not suggestions:
        for unit in sorted(known_units):
            score, why = _spelling_match(value, unit)
            if score >= MIN_SPELLING_SIMILARITY:
                suggestions.append(
                    Suggestion(
                        kind="unit",
                        pointer=pointer,
                        target=target,
                        score=round(score * 0.9, 4),
                        reason=f"'{value}' is not a unit of Odoo; '{unit}' is {why}.",
                        change={"from": value, "to": unit},
                    )
                )
    suggestions.sort(key=lambda s: (-s.score, s.change["to"]))
    return suggestions[:TOP]


def rank_records(pointer, kind, value, records):
    """``xref`` suggestions for a reference that names no record: the records whose
    other keys match ``value``, best first.

    :param records: ``(record_id, label, {key_name: key_value})`` of the candidate
        records (for example the records whose name contains the value)
    """
    suggestions = []
    for record_id, label, keys in records:
        best = None
        for key, text in sorted(keys.items()):
            if not text:
                continue
            score, why = _spelling_match(value, text)
            if score < 1.0 and _spelling_key(value) in _spelling_key(text):
                score, why = 0.85, "contains it"
            if best is None or score > best[0]:
                best = (score, f"its {key} '{text}' is {why}")
        if best is None or best[0] < MIN_SPELLING_SIMILARITY:
            continue
        score, why = best
        suggestions.append(
            Suggestion(
                kind="xref",
                pointer=pointer,
                target=kind,
                score=score,
                reason=f"No {kind} has the key '{value}', but {label}: {why}.",
                change={
                    "kind": kind,
                    "value": value,
                    "record_id": record_id,
                    "label": label,
                },
            )
        )
    suggestions.sort(key=lambda s: (-s.score, s.change["record_id"]))
    return suggestions[:TOP]


# ---------------------------------------------------------------------------
# Applying a suggestion to a mapping definition


def apply_to_definition(definition, suggestion):
    """A copy of a mapping definition with ``suggestion`` applied (``source``,
    ``value_map`` and ``unit`` kinds).

    :raise ValueError: when the suggestion cannot be applied to this definition
        (another kind, or a value to map that no line of its own produces)
    """
    lines = [dict(line) for line in definition.get("lines", [])]
    line = next((ln for ln in lines if ln.get("target") == suggestion.target), None)
    change = suggestion.change
    if suggestion.kind == "source":
        if line is None:
            lines.append({"target": suggestion.target, "source": change["source"]})
        else:
            line["source"] = change["source"]
    elif suggestion.kind in ("value_map", "unit"):
        if line is None:
            raise ValueError(
                f"No line of the mapping produces {suggestion.target}: add one "
                "before mapping its values."
            )
        transforms = [dict(t) for t in line.get("transforms", [])]
        pair = [change["from"], change["to"]]
        table = next(
            (t for t in transforms if t.get("type") == "value_map" and "map" in t),
            None,
        )
        if table is None:
            transforms.append({"type": "value_map", "map": [pair], "strict": False})
        else:
            pairs = table["map"]
            pairs = (
                [[k, v] for k, v in pairs.items()]
                if isinstance(pairs, dict)
                else [list(p) for p in pairs]
            )
            table["map"] = [p for p in pairs if p[0] != pair[0]] + [pair]
        line["transforms"] = transforms
    else:
        raise ValueError(f"A {suggestion.kind} suggestion does not change a mapping.")
    return dict(definition, lines=lines)
