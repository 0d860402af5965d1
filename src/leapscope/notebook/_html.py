"""Small HTML builders for notebook display. Every value from a run, a report or a user is escaped."""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["STYLE", "card", "esc", "fmt", "image_tag", "table"]

#: one scoped style block: notebook front ends keep their own CSS for everything else
STYLE = (
    "<style>.lsnb{font-family:system-ui,sans-serif;font-size:13px;line-height:1.4}"
    ".lsnb table{border-collapse:collapse;margin:4px 0 8px}"
    ".lsnb th,.lsnb td{border-bottom:1px solid #ddd;padding:2px 8px;text-align:left;vertical-align:top}"
    ".lsnb th{background:#f4f4f6}.lsnb .num{text-align:right;font-variant-numeric:tabular-nums}"
    ".lsnb .pass{color:#137333}.lsnb .fail{color:#b3261e}.lsnb .muted{color:#666}"
    ".lsnb img{image-rendering:pixelated;margin:2px}</style>"
)


def esc(value: Any) -> str:
    """``value`` as escaped HTML text."""
    return html.escape(str(value), quote=True)


def fmt(value: Any) -> str:
    """A cell value: floats to 4 significant digits, None as an em dash; escaped."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    return esc(value)


def table(header: Sequence[str], rows: Iterable[Sequence[Any]], *, raw: Sequence[bool] = ()) -> str:
    """An HTML table. Cells are escaped unless the column's ``raw`` flag is set (markup built here)."""
    flags = list(raw) + [False] * (len(header) - len(raw))
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for value, is_raw in zip(row, flags, strict=False):
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            text = str(value) if is_raw else fmt(value)
            cells.append(f'<td class="num">{text}</td>' if numeric else f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def image_tag(png: bytes, *, title: str = "", width: int | None = None) -> str:
    """An inline ``<img>`` of PNG bytes (a data URI, so the notebook file keeps it)."""
    size = f' width="{int(width)}"' if width else ""
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" title="{esc(title)}" alt="{esc(title)}"{size}>'


def card(title: str, body: str) -> str:
    """One display block: an escaped title over markup built by this module."""
    return f'{STYLE}<div class="lsnb"><b>{esc(title)}</b>{body}</div>'
