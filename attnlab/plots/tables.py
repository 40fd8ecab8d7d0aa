"""Tables as HTML, for JupyterLab: a wide table stays one row per line where its text form would wrap."""

from __future__ import annotations

import html
from collections.abc import Sequence


def html_table(header: Sequence[str], rows: Sequence[Sequence[object]], digits: Sequence[int | None]) -> str:
    """header: the column titles; rows: their values; digits: decimals of each column (None: text, left aligned)."""

    def cell(value: object, places: int | None) -> str:
        if places is None:
            return f'<td style="text-align:left">{html.escape(str(value))}</td>'
        return f'<td style="text-align:right;font-variant-numeric:tabular-nums">{value:.{places}f}</td>'

    head = "".join(
        f'<th style="text-align:{"left" if places is None else "right"}">{html.escape(title)}</th>'
        for title, places in zip(header, digits, strict=True)
    )
    body = "".join(
        "<tr>" + "".join(cell(value, places) for value, places in zip(row, digits, strict=True)) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
