"""Built-in units of the ``uom`` transform: :data:`BUILTIN_UNITS` and
:func:`builtin_convert`, used when no ``uom_converter`` is given."""

from fractions import Fraction

from ._common import _Fail, _finite_float, _show, _to_decimal

#: built-in units: name -> (category, exact size in the category's reference unit)
BUILTIN_UNITS = {
    "mg": ("mass", Fraction("0.000001")),
    "g": ("mass", Fraction("0.001")),
    "kg": ("mass", Fraction("1")),
    "t": ("mass", Fraction("1000")),
    "lb": ("mass", Fraction("0.45359237")),
    "oz": ("mass", Fraction("0.028349523125")),
    "mm": ("length", Fraction("0.001")),
    "cm": ("length", Fraction("0.01")),
    "m": ("length", Fraction("1")),
    "km": ("length", Fraction("1000")),
    "in": ("length", Fraction("0.0254")),
    "ft": ("length", Fraction("0.3048")),
    "ml": ("volume", Fraction("0.001")),
    "mL": ("volume", Fraction("0.001")),
    "l": ("volume", Fraction("1")),
    "L": ("volume", Fraction("1")),
    "m3": ("volume", Fraction("1000")),
    "s": ("time", Fraction(1, 3600)),
    "min": ("time", Fraction(1, 60)),
    "h": ("time", Fraction("1")),
    "Units": ("count", Fraction("1")),
    "Dozens": ("count", Fraction("12")),
}


def builtin_convert(value, from_unit, to_unit):
    """Convert ``value`` between two units of :data:`BUILTIN_UNITS`.

    :param value: a number or numeric text
    :param from_unit: the unit of ``value``
    :param to_unit: the wanted unit
    :return: the converted value as a float
    :raise ValueError: when a unit is unknown, the units are of different
        categories or ``value`` is not a number
    """
    try:
        amount = _to_decimal(value)
    except _Fail as exc:
        raise ValueError(exc.message) from exc
    for unit in (from_unit, to_unit):
        if unit not in BUILTIN_UNITS:
            raise ValueError(f"unknown unit {_show(unit)}")
    (from_category, from_size), (to_category, to_size) = (
        BUILTIN_UNITS[from_unit],
        BUILTIN_UNITS[to_unit],
    )
    if from_category != to_category:
        raise ValueError(
            f"cannot convert {from_unit} ({from_category}) to {to_unit} ({to_category})"
        )
    return _finite_float(Fraction(amount) * from_size / to_size)
