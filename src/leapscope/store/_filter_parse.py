"""Parsing the one safe sample filter: ``column op literal [and column op literal ...]``.

Every string filter leapscope accepts (saved threshold tests, ``leapscope test --filter``,
``runs.aggregate(where=...)``, the API's ``where``) goes through :func:`parse_filter`.
Nothing of the text is ever evaluated as code: a small tokenizer accepts

- a column: ``[A-Za-z_][A-Za-z0-9_]*`` (ASCII), checked against the run's columns;
- an operator: ``==`` ``!=`` ``<`` ``<=`` ``>`` ``>=``, or ``in`` / ``not in`` followed by
  a ``[literal, ...]`` list;
- a literal: a JSON number, a JSON string (``"8"``), a single-quoted string (``'8'``),
  ``true`` / ``false`` / ``null`` (``True`` / ``False`` / ``None`` too);
  an unquoted word on the right (``subset == north``) is refused with the quoted fix
  (``strings go in quotes: subset == "north"``); one column is never compared with another;
- ``and`` between conditions (no ``or``, no parentheses, no functions, no attributes).

The parsed :class:`~leapscope.store._filter.Filter` is checked, turned into SQL or a mask in
:mod:`leapscope.store._filter`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from leapscope.exceptions import FilterError
from leapscope.store._filter import INT64_MAX, Condition, Filter

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["GRAMMAR", "MAX_FILTER_LENGTH", "parse_filter"]

MAX_FILTER_LENGTH = 2000
"""Longest filter text accepted (characters)."""

_MAX_CONDITIONS = 32
_MAX_IN_VALUES = 256
GRAMMAR = "column op literal [and column op literal ...] with op one of == != < <= > >= in [..] 'not in' [..]"

_TOKEN = re.compile(
    r"""
    (?P<space>[ \t\r\n]+)
  | (?P<number>-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?(?![A-Za-z0-9_.]))
  | (?P<dstring>"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*")
  | (?P<sstring>'(?:[^'\\\x00-\x1f]|\\['\\])*')
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>==|!=|<=|>=|<|>)
  | (?P<punct>[\[\],])
    """,
    re.VERBOSE,
)
_KEYWORDS = {"true": True, "True": True, "false": False, "False": False, "null": None, "None": None}
_KEYWORD_CASES = {"true": "true", "false": "false", "null": "null", "none": "null"}
_WORDS = ("and", "or", "in", "not")


def parse_filter(text: str | Sequence[str] | None, schema: pa.Schema | Iterable[str] | None = None) -> Filter:
    """Parse ``column op literal [and ...]`` (or a list of such strings, joined by ``and``).

    Parameters
    ----------
    text : str, list of str or None
        The filter; ``None``, ``""`` or ``[]`` give an empty filter (every row).
    schema : pyarrow.Schema or iterable of column names, optional
        When given, columns (and, with a schema, literal types) are checked too.

    Returns
    -------
    Filter

    Raises
    ------
    FilterError
        Malformed text (the message says where and shows the grammar), text over
        :data:`MAX_FILTER_LENGTH` characters, or (with ``schema``) an unknown column or a
        literal of the wrong type.
    """
    names: list[str] | None = None
    if schema is not None:
        import pyarrow as pa

        if not isinstance(schema, pa.Schema):
            schema = list(schema)  # an iterator is read once, here and by Filter.check
        names = list(schema.names) if isinstance(schema, pa.Schema) else schema
    if text is None:
        parsed = Filter("")
    elif isinstance(text, str):
        parsed = _parse(text, names)
    else:
        parts = [_parse(t, names) for t in text]
        parsed = Filter(
            " and ".join(p.text for p in parts if p.text.strip()), tuple(c for p in parts for c in p.conditions)
        )
        if len(parsed.conditions) > _MAX_CONDITIONS:
            raise FilterError(f"filter: {len(parsed.conditions)} conditions; at most {_MAX_CONDITIONS} are accepted")
    return parsed.check(schema) if schema is not None else parsed


def _parse(text: str, names: list[str] | None = None) -> Filter:
    if not isinstance(text, str):
        raise FilterError(f"filter: expected a string, got {type(text).__name__}")
    if len(text) > MAX_FILTER_LENGTH:
        raise FilterError(f"filter: {len(text)} characters; at most {MAX_FILTER_LENGTH} are accepted ({GRAMMAR})")
    _check_encodable(text)
    shown = text if len(text) <= 200 else text[:200] + "..."
    tokens = _tokenize(text, shown)
    if not tokens:
        return Filter(text)
    return _Parser(text, shown, tokens, names).conditions()


class _Parser:
    """Recursive descent over the tokens of one filter; every error names the character it stopped at."""

    def __init__(self, text: str, shown: str, tokens: list[tuple[str, int, str]], names: list[str] | None = None):
        self.text, self.shown, self.tokens = text, shown, tokens
        self.names = names  # the run's columns, when known: a column on the right gets its own message
        self.pos = 0

    def fail(self, why: str) -> FilterError:
        at = self.tokens[self.pos][1] if self.pos < len(self.tokens) else len(self.text)
        return FilterError(
            f'filter {self.shown!r}: {why} at character {at}; expected {GRAMMAR}, e.g. digit_label == "8" and loss_ce > 0.5'
        )

    def back(self, why: str) -> FilterError:
        """:meth:`fail` pointing at the token just taken."""
        self.pos -= 1
        return self.fail(why)

    def bare(self, word: str) -> FilterError:
        """The error for an unquoted word where a literal belongs (the token just taken): the filter with its
        unquoted words quoted, so ``subset == north`` says ``strings go in quotes: subset == "north"``."""
        at = self.tokens[self.pos - 1][1]
        lowered = word.lower()
        if lowered in ("nan", "inf", "infinity"):
            return self.back(
                f"expected a literal (number, \"string\", 'string', true, false, null), found {word!r} (NaN and "
                "infinity are not filter literals; select missing values with == null)"
            )
        if lowered in _KEYWORD_CASES:
            keyword = _KEYWORD_CASES[lowered]
            return FilterError(
                f"filter {self.shown!r}: {word!r} at character {at} is not a literal; write {keyword} (lower case), "
                f"or for the text put it in quotes: {json.dumps(word)}"
            )
        fixed = self.quoted()
        fixed = fixed if len(fixed) <= 200 else fixed[:200] + "..."
        if self.names is not None and word in self.names:
            why = (
                f"{word!r} (character {at}) is a column; a filter compares a column with a literal (a number, "
                '"string", true, false or null), never two columns; to compare with the text,'
            )
        else:
            why = f"{word!r} (character {at}) is not quoted;"
        return FilterError(f"filter {self.shown!r}: {why} strings go in quotes: {fixed}")

    def quoted(self) -> str:
        """The filter text with every unquoted word in a literal's place (after an operator, '[' or ',') quoted."""
        out, last = [], 0
        for i, (kind, at, raw) in enumerate(self.tokens):
            before = self.tokens[i - 1] if i else ("", 0, "")
            if (
                kind == "name"
                and raw not in _KEYWORDS
                and raw.lower() not in _WORDS
                and (before[0] == "op" or before[2] in ("[", ","))
            ):
                out += [self.text[last:at], json.dumps(raw)]
                last = at + len(raw)
        return "".join(out) + self.text[last:]

    def take(self) -> tuple[str, int, str]:
        if self.pos >= len(self.tokens):
            raise self.fail("unexpected end")
        token = self.tokens[self.pos]
        self.pos += 1
        return token[0], token[1], token[2]

    def conditions(self) -> Filter:
        """``condition (and condition)*`` up to the end of the tokens."""
        found: list[Condition] = []
        while True:
            found.append(self.condition(self.column()))
            if len(found) > _MAX_CONDITIONS:
                raise self.fail(f"more than {_MAX_CONDITIONS} conditions (at most {_MAX_CONDITIONS} are accepted)")
            if self.pos == len(self.tokens):
                return Filter(self.text, tuple(found))
            kind, _, value = self.take()
            if kind == "name" and value.lower() == "or":
                raise self.back(
                    "'or' is not supported (conditions are joined with 'and'; use 'column in [a, b]' for alternatives)"
                )
            if kind != "name" or value.lower() != "and":
                raise self.back(f"expected 'and' between conditions, found {value!r}")

    def column(self) -> str:
        kind, _, value = self.take()
        if kind != "name" or value in _KEYWORDS or value in ("and", "or", "in", "not"):
            raise self.back(f"expected a column name, found {value!r}")
        if value.startswith("__"):
            raise self.back(f"column names cannot start with '__' ({value!r})")
        return value

    def condition(self, column: str) -> Condition:
        """``op literal`` or ``[not] in [literal, ...]`` after ``column``."""
        kind, _, value = self.take()
        if kind == "op":
            literal = _literal(self.take(), self.fail, self.bare)
            if literal is None and value not in ("==", "!="):
                raise self.fail(f"null can only be compared with == or != (found {value})")
            return Condition(column, value, literal)
        if kind == "name" and value in ("in", "not"):
            op = "in"
            if value == "not":
                if self.take()[::2] != ("name", "in"):
                    raise self.back("expected 'in' after 'not'")
                op = "not in"
            if self.take()[2] != "[":
                raise self.back(f"expected '[' after '{op}'")
            return Condition(column, op, self.values(column, op))
        raise self.back(f"expected an operator (== != < <= > >= in) after '{column}', found {value!r}")

    def values(self, column: str, op: str) -> tuple[Any, ...]:
        """``literal (, literal)* ]`` of an ``in`` list (no null)."""
        values: list[Any] = []
        while True:
            values.append(_literal(self.take(), self.fail, self.bare))
            if values[-1] is None:
                raise self.back(
                    f"null cannot be in an '{op}' list; write '{column} == null' (or != null) as its own condition"
                )
            value = self.take()[2]
            if value == "]":
                break
            if value != ",":
                raise self.back("expected ',' or ']' in the list")
        if len(values) > _MAX_IN_VALUES:
            raise self.fail(f"{len(values)} values in the list; at most {_MAX_IN_VALUES}")
        return tuple(values)


def _tokenize(text: str, shown: str) -> list[tuple[str, int, str]]:
    tokens = []
    at = 0
    while at < len(text):
        match = _TOKEN.match(text, at)
        if match is None:
            char = text[at]
            raise FilterError(
                f"filter {shown!r}: unexpected character {char!r} (U+{ord(char):04X}) at character {at}; expected {GRAMMAR}; "
                "strings are quoted: \"8\" or '8'"
            )
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append((kind, at, match.group()))
        at = match.end()
    return tokens


def _literal(token: tuple[str, int, str], fail: Any, bare: Any) -> Any:
    kind, _, raw = token
    if kind == "number":
        number: int | float = json.loads(raw)
        if isinstance(number, float) and not math.isfinite(number):
            raise fail(f"number {raw} is out of range")
        if isinstance(number, int) and abs(number) > INT64_MAX:
            raise fail(f"integer {raw} is out of the 64-bit range")
        return number
    if kind == "dstring":
        return _check_encodable(json.loads(raw))  # a \ud800 escape decodes to a lone surrogate
    if kind == "sstring":
        return re.sub(r"\\(['\\])", r"\1", raw[1:-1])
    if kind == "name" and raw in _KEYWORDS:
        return _KEYWORDS[raw]
    if kind == "name" and raw.lower() not in _WORDS:
        raise bare(raw)  # an unquoted word: the message shows the filter with it quoted
    raise fail(f"expected a literal (number, \"string\", 'string', true, false, null), found {raw!r}")


def _check_encodable(text: str) -> str:
    """Refuse text that is not valid Unicode (lone surrogates): SQL engines and JSON writers fail on it later."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise FilterError(
            f"filter: invalid character {text[exc.start]!r} at character {exc.start} (a lone surrogate)"
        ) from None
    return text
