"""Units as text: the one renderer every report, widget and plot label uses.

:func:`pretty_unit` turns the registry's ASCII units into Unicode text units: each factor
with its power as superscripts, divisions as negative powers, factors of one base merged
(``"Å²/s^(1+alpha)"`` → ``"Å²·s⁻¹⁻ᵅ"``, ``"s⁻¹·s^(-beta)"`` → ``"s⁻¹⁻ᵝ"``, ``"1/Å"`` →
``"Å⁻¹"``). Greek exponent names become letters (``alpha`` → ``ᵅ``) and a suffix joins them
(``alpha_ref`` → ``ᵅʳᵉᶠ``). A unit it cannot read is returned unchanged (stripped).

All of xpcsnb shows units through :func:`pretty_unit`: the NLSQ reports
(:mod:`xpcsnb.fit.report`), the widgets and the plots' unit labels.
"""

from __future__ import annotations

import re
from fractions import Fraction

__all__ = ["pretty_unit"]

_SUP = str.maketrans("0123456789+-=()abdefghijklmnoprstuvwxyzαβγδ.",
                     "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ᵃᵇᵈᵉᶠᵍʰⁱʲᵏˡᵐⁿᵒᵖʳˢᵗᵘᵛʷˣʸᶻᵅᵝᵞᵟ·")
_UNSUP = {v: k for k, v in zip("0123456789+-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻")}
_GREEK = {"alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ"}
#: One factor: a base (a word, or a parenthesised group such as ``(1/q)``), then a power
#: (``^2``, ``^-1``, ``^beta``, ``^(1+alpha)``, or Unicode superscripts ``²``, ``⁻¹``).
_FACTOR = re.compile(r"\s*(?P<base>\([^()]*\)|[^\s/·*^()⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻]+)"
                     r"(?:\^(?:\((?P<paren>[^()]*)\)|(?P<word>-?[\w.]+))|(?P<sup>[⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻]+))?\s*")
_TERM = re.compile(r"([+-]?)\s*(\d+(?:\.\d+)?)?\s*\*?\s*([A-Za-z]\w*)?")


def _exponent(text: str) -> dict[str, Fraction] | None:
    """``"1+alpha"`` → ``{"": 1, "alpha": 1}``; None if ``text`` is no sum of (number × name) terms."""
    out: dict[str, Fraction] = {}
    pos, text = 0, text.replace(" ", "").replace("−", "-")
    if not text:
        return None
    while pos < len(text):
        m = _TERM.match(text, pos)
        if m is None or m.end() == pos or not (m.group(2) or m.group(3)) or (pos > 0 and not m.group(1)):
            return None
        coef = Fraction(m.group(2) or 1) * (-1 if m.group(1) == "-" else 1)
        key = m.group(3) or ""
        out[key] = out.get(key, Fraction(0)) + coef
        pos = m.end()
    return out


def _factors(unit: str) -> list[tuple[str, dict[str, Fraction]]] | None:
    """The factors of ``unit`` with their exponents (divisions negated); None if unreadable."""
    out: list[tuple[str, dict[str, Fraction]]] = []
    pos, sign = 0, 1
    while pos < len(unit):
        m = _FACTOR.match(unit, pos)
        if m is None or m.end() == pos:
            return None
        if m.group("sup"):
            exp = _exponent("".join(_UNSUP[c] for c in m.group("sup")))
        else:
            raw = m.group("paren") if m.group("paren") is not None else m.group("word")
            exp = {"": Fraction(1)} if raw is None else _exponent(raw)
        if exp is None:
            return None
        base = m.group("base")
        if base != "1":
            out.append((base, {k: sign * v for k, v in exp.items()}))
        pos = m.end()
        if pos == len(unit):
            break
        sep = unit[pos]
        if sep not in "/·*":
            return None
        sign, pos = (-1 if sep == "/" else 1), pos + 1
        if pos == len(unit):
            return None
    return out


def _power(exp: dict[str, Fraction]) -> str:
    """A power as superscripts (``{"": -1, "alpha": -1}`` → ``"⁻¹⁻ᵅ"``), "" for 1.

    Powers that have no superscript form (a fractional number, a letter without a
    superscript such as ``q``) keep the caret form, ``^2.07`` or ``^(1+α_q)``.
    """
    terms = [(k, v) for k, v in sorted(exp.items(), key=lambda kv: kv[0] != "") if v != 0]
    if terms == [("", Fraction(1))]:
        return ""
    text = ""
    for k, v in terms:
        mag = abs(v)
        num = "" if (k and mag == 1) else (str(mag.numerator) if mag.denominator == 1 else f"{float(mag):g}")
        name = k
        for word, letter in _GREEK.items():
            name = re.sub(rf"^{word}(?:_(\w+))?$", lambda m: letter + (m.group(1) or ""), name)
        text += ("-" if v < 0 else ("+" if text else "")) + num + name
    shown = text.translate(_SUP)
    if "." not in text and not any(c.isascii() for c in shown):
        return shown
    return "^" + (text if re.fullmatch(r"-?[\d.]+", text) else f"({text})")


def pretty_unit(unit: str) -> str:
    """A unit as Unicode text: powers as superscripts, divisions as negative powers.

    Parameters
    ----------
    unit : str
        A unit in the registry's notation (``"Å²/s^(1+alpha)"``, ``"1/s"``, ``"deg"``).

    Returns
    -------
    str
        ``"Å²·s⁻¹⁻ᵅ"``, ``"s⁻¹"``, ``"deg"``; ``""`` for dimensionless (``"1"`` or empty).
        Zero net powers cancel (``"s/s"`` → ``""``); a power without a superscript form
        keeps the caret (``"Å^2.07/s"`` → ``"Å^2.07·s⁻¹"``). Text it cannot read is
        returned as given (stripped).
    """
    u = str(unit).strip()
    if u in ("", "1"):
        return ""
    factors = _factors(u)
    if factors is None:
        return u
    merged: dict[str, dict[str, Fraction]] = {}
    for base, exp in factors:
        acc = merged.setdefault(base, {})
        for k, v in exp.items():
            acc[k] = acc.get(k, Fraction(0)) + v
    parts = []
    for base, exp in merged.items():
        if all(v == 0 for v in exp.values()):
            continue
        parts.append(base + _power(exp))
    return "·".join(parts)
