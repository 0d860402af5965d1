"""The one safe filter parser: grammar, column and type checks, and SQL/mask agreement."""

from __future__ import annotations

import math

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from leapscope.exceptions import LeapscopeError
from leapscope.store import MAX_FILTER_LENGTH, FilterError, parse_filter


@pytest.fixture(scope="module")
def table() -> pa.Table:
    return pa.table(
        {
            "row": pa.array(range(8), pa.int64()),
            "subset": pa.array(["training", "training", "validation", "validation", "test", "test", "training", None]),
            "digit_label": pa.array(["8", "3", "8", "1", "8", "it's", "3", "8"]),
            "loss_ce": pa.array([0.1, 0.9, math.nan, 0.7, None, 0.2, 1.5, 0.6], pa.float64()),
            "score": pa.array([0.5, 0.25, 0.75, 1.0, 0.0, 0.5, 0.125, 0.5], pa.float32()),
            "odd": pa.array([False, True, False, True, False, True, False, True]),
            "kind": pa.array(["a", "b", "a", "b", "a", "b", "a", "b"]).dictionary_encode(),
            "gt_label": pa.array([[0.0, 1.0]] * 8, pa.list_(pa.float32())),
        }
    )


def _sql_rows(table: pa.Table, text: str) -> list[int]:
    clause, params = parse_filter(text, table.schema).sql()
    con = duckdb.connect()
    con.register("samples", table)
    rows = con.execute(
        f"SELECT row FROM samples WHERE {clause} ORDER BY row" if clause else "SELECT row FROM samples ORDER BY row",
        params,
    ).fetchall()
    return [r[0] for r in rows]


GOOD = [
    ('digit_label == "8"', lambda d: d.digit_label == "8"),
    ("digit_label == '8'", lambda d: d.digit_label == "8"),
    ("digit_label == 'it\\'s'", lambda d: d.digit_label == "it's"),
    ('loss_ce > 0.5 and subset == "validation"', lambda d: (d.loss_ce > 0.5) & (d.subset == "validation")),
    ("loss_ce > 0.5", lambda d: d.loss_ce > 0.5),
    ("loss_ce >= 0.6", lambda d: d.loss_ce >= 0.6),
    ("loss_ce < 0.8", lambda d: d.loss_ce < 0.8),
    ("loss_ce <= 0.7 AND row != 0", lambda d: (d.loss_ce <= 0.7) & (d.row != 0)),
    ("loss_ce != 0.1", lambda d: d.loss_ce != 0.1),
    ("score == 0.5", lambda d: d.score == 0.5),
    ("row>=2 and row<6", lambda d: (d.row >= 2) & (d.row < 6)),
    ("row < -1", lambda d: d.row < -1),
    ("row < 1e1", lambda d: d.row < 10),
    ("odd == true", lambda d: d.odd),
    ("odd == False", lambda d: ~d.odd),
    ("kind == 'a'", lambda d: d.kind == "a"),
    ('subset != "training"', lambda d: d.subset != "training"),
    ('subset in ["training", "test"]', lambda d: d.subset.isin(["training", "test"])),
    ('subset not in ["training"]', lambda d: ~d.subset.isin(["training"])),
    ("row in [1, 3, 5]", lambda d: d.row.isin([1, 3, 5])),
    ("row in [1.5, 3]", lambda d: d.row.isin([3])),
    ("subset == null", lambda d: d.subset.isna()),
    ("loss_ce != null", lambda d: d.loss_ce.notna()),
    ("", lambda d: d.row >= 0),
    ("  ", lambda d: d.row >= 0),
]


@pytest.mark.parametrize(("text", "expected"), GOOD, ids=[g[0] or "empty" for g in GOOD])
def test_mask_and_sql_select_the_same_rows_as_pandas(table, text, expected):
    frame = table.to_pandas()
    want = [int(r) for r in frame.row[expected(frame).fillna(False).astype(bool)]]
    flt = parse_filter(text, table.schema)
    assert [int(r) for r in np.flatnonzero(flt.mask(table))] == want
    assert _sql_rows(table, text) == want


def test_sql_fragment_quotes_identifiers_and_binds_values(table):
    clause, params = parse_filter('digit_label == "8" and loss_ce > 0.5', table.schema).sql()
    assert clause == '"digit_label" = ? AND ("loss_ce" > ? AND NOT isnan("loss_ce"))'
    assert params == ["8", 0.5]
    assert parse_filter(None).sql() == ("", [])
    assert not parse_filter("")


def test_a_list_of_filters_is_joined_with_and(table):
    flt = parse_filter(['digit_label == "8"', "row > 0"], table.schema)
    assert [c.column for c in flt.conditions] == ["digit_label", "row"]
    assert list(np.flatnonzero(flt.mask(table))) == [2, 4, 7]


def test_unknown_column_names_close_matches(table):
    with pytest.raises(FilterError, match=r"unknown column 'digit_labl' \(did you mean digit_label") as info:
        parse_filter('digit_labl == "8"', table.schema)
    assert isinstance(info.value, LeapscopeError) and isinstance(info.value, ValueError)
    with pytest.raises(FilterError, match="unknown column 'nope'; columns: row, subset"):
        parse_filter("nope == 1", table.column_names)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('row < "abc"', "column 'row' holds numbers .* \"abc\" is not a number"),
        ('row < "5"', "write row < 5"),
        (
            "digit_label == 8",
            "column digit_label holds strings|column 'digit_label' holds strings.*write digit_label == \"8\"",
        ),
        ("digit_label in [8, 3]", r'write digit_label in \["8", ...\]'),
        ("odd == 1", "holds booleans"),
        ("odd > false", "no order"),
        ("loss_ce == true", "holds numbers"),
        ("gt_label == 1", "holds list"),
    ],
)
def test_literal_type_must_fit_the_column(table, text, message):
    with pytest.raises(FilterError, match=message):
        parse_filter(text, table.schema)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("row <", "unexpected end"),
        ("row", "unexpected end"),
        ("== 1", "expected a column name"),
        ("row = 1", "unexpected character '='"),
        ("row == 1 or row == 2", "'or' is not supported"),
        ("row == 1 row == 2", "expected 'and'"),
        ("row == 1 and", "unexpected end"),
        ("row == nan", "expected a literal"),
        ("row == inf", "expected a literal"),
        ("row == 1e999", "out of range"),
        ("row == 99999999999999999999", "64-bit"),
        ("row in 1", "expected '\\['"),
        ("row in [1 2]", "expected ',' or '\\]'"),
        ("row in [null]", "null cannot be in"),
        ("row < null", "null can only be compared"),
        ("row not 1", "expected 'in' after 'not'"),
        ("__class__ == 1", "cannot start with '__'"),
        ('digit_label == "8', "unexpected character '\"'"),
        ("digit_label == '8", "unexpected character"),
        ("(row == 1)", "unexpected character '\\('"),
        ("row == 1.", "unexpected character"),
        ("r\u00f6w == 1", "unexpected character"),
        ("row\u00a0== 1", "U\\+00A0"),
    ],
)
def test_malformed_filters_are_refused_with_the_reason(text, message):
    with pytest.raises(FilterError, match=message):
        parse_filter(text)


def test_length_and_size_bounds():
    with pytest.raises(FilterError, match=f"at most {MAX_FILTER_LENGTH}"):
        parse_filter("row > 1" + " and row > 1" * 400)
    with pytest.raises(FilterError, match="at most 32"):
        parse_filter(" and ".join(["row > 1"] * 40))
    with pytest.raises(FilterError, match="at most 256"):
        parse_filter("row in [" + ", ".join(["1"] * 300) + "]")
    with pytest.raises(FilterError, match="expected a string"):
        parse_filter([1])  # type: ignore[list-item]


def test_filter_round_trips_through_its_text(table):
    flt = parse_filter("subset in ['training', \"test\"] and loss_ce<=0.7", table.schema)
    assert str(flt) == 'subset in ["training", "test"] and loss_ce <= 0.7'
    again = parse_filter(str(flt), table.schema)
    assert again.conditions == flt.conditions and flt.columns == ["subset", "loss_ce"]


def test_pandas_reference_matches_for_nan_and_null():
    # NaN never passes an ordering comparison, in the mask as in DuckDB (which orders NaN above all numbers)
    t = pa.table({"row": [0, 1, 2], "x": pa.array([math.nan, 2.0, None], pa.float64())})
    assert list(np.flatnonzero(parse_filter("x > 1", t.schema).mask(t))) == [1]
    assert _sql_rows(t, "x > 1") == [1]
    assert _sql_rows(t, "x >= 1") == [1]
    assert list(pd.Series([math.nan, 2.0, None]) > 1) == [False, True, False]


@pytest.mark.parametrize(
    ("text", "fixed"),
    [
        ("subset == north", 'subset == "north"'),
        ("digit_label != eight", 'digit_label != "eight"'),
        ("row > 1 and subset == validation", 'row > 1 and subset == "validation"'),
        ("subset in [training, test]", 'subset in ["training", "test"]'),
        ('subset not in ["test", training]', 'subset not in ["test", "training"]'),
        ("kind == a and subset == b", 'kind == "a" and subset == "b"'),
    ],
)
def test_an_unquoted_word_on_the_right_says_strings_go_in_quotes(table, text, fixed):
    # the trial's `tumor_site == north` got the generic grammar error; with or without the columns known
    for schema in (None, table.schema, table.column_names):
        with pytest.raises(FilterError) as info:
            parse_filter(text, schema)
        assert f"strings go in quotes: {fixed}" in str(info.value), str(info.value)
    parse_filter(fixed, table.schema)  # the suggested text is a valid filter


def test_a_column_on_the_right_is_refused_as_a_comparison_of_two_columns(table):
    with pytest.raises(FilterError, match=r"'score' \(character 10\) is a column; a filter compares a column") as info:
        parse_filter("loss_ce > score", table.schema)
    assert 'strings go in quotes: loss_ce > "score"' in str(info.value)


@pytest.mark.parametrize(("text", "hint"), [("odd == TRUE", "write true"), ("subset == NULL", "write null")])
def test_a_keyword_in_the_wrong_case_names_the_keyword(table, text, hint):
    with pytest.raises(FilterError, match=hint):
        parse_filter(text, table.schema)
