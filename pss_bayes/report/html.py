"""HTML building blocks of the report: escaped text, tables, figures, sections and the page.

Everything is a plain string. The page carries its own style sheet and no
script, and figures are embedded as data URIs, so the file is self-contained and
opens offline in any browser.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

Formatter = Callable[[object], str]

_STYLE = """
:root { --ink: #1f2328; --muted: #57606a; --line: #d0d7de; --bg: #f6f8fa;
        --ok: #1a7f37; --bad: #b42318; --warn-bg: #fdecea; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: var(--ink); background: #fff; }
header, main { max-width: 1120px; margin: 0 auto; padding: 0 20px; }
header { padding-top: 18px; }
h1 { font-size: 1.6em; margin: 0 0 4px; }
h2 { font-size: 1.25em; margin: 0 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 1.05em; margin: 16px 0 6px; }
.subtitle { color: var(--muted); margin: 0 0 12px; }
nav { display: flex; flex-wrap: wrap; gap: 6px 14px; padding: 8px 0; margin-bottom: 8px;
      border-top: 1px solid var(--line); border-bottom: 1px solid var(--line); font-size: 0.93em; }
nav a { color: #0969da; text-decoration: none; }
section { margin: 22px 0 30px; }
.banner { border: 3px solid var(--bad); background: var(--warn-bg); color: var(--bad);
          padding: 12px 16px; margin: 10px 0 14px; border-radius: 6px; }
.banner strong { font-size: 1.15em; display: block; margin-bottom: 4px; }
.banner ul { margin: 6px 0 0; color: var(--ink); }
.glance { display: grid; grid-template-columns: repeat(auto-fit, minmax(230px, 1fr)); gap: 10px;
          margin: 10px 0 14px; }
.glance div { background: var(--bg); border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; }
.glance .value { font-size: 1.35em; font-weight: 600; display: block; }
.glance .label { color: var(--muted); font-size: 0.9em; }
figure { margin: 10px 0 18px; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { color: var(--muted); font-size: 0.92em; margin-top: 4px; }
table { border-collapse: collapse; margin: 8px 0 14px; font-size: 0.92em; }
th, td { border: 1px solid var(--line); padding: 3px 9px; text-align: left; vertical-align: top; }
th { background: var(--bg); }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.pass { color: var(--ok); font-weight: 600; }
.fail { color: var(--bad); font-weight: 600; }
.note { color: var(--muted); font-size: 0.92em; }
.scroll { max-height: 420px; overflow: auto; display: inline-block; max-width: 100%; }
pre { background: var(--bg); padding: 8px 10px; overflow-x: auto; }
footer { color: var(--muted); font-size: 0.85em; max-width: 1120px; margin: 30px auto 20px; padding: 0 20px; }
"""


def esc(value: object) -> str:
    """Escape a value for use as HTML text or attribute."""
    return html.escape(str(value), quote=True)


def fmt_number(value: object, digits: int = 2) -> str:
    """Format a number for a table cell (empty for missing values)."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.{digits}f}"
    return str(value)


def table(frame: pd.DataFrame, formats: Mapping[str, Formatter] | None = None,
          headers: Mapping[str, str] | None = None, scroll: bool = False) -> str:
    """Render a DataFrame as an HTML table.

    Parameters
    ----------
    frame
        Rows to show; its index is ignored.
    formats
        Per column, a function turning a value into text (default :func:`fmt_number`).
    headers
        Per column, the header to show instead of the column name.
    scroll
        Wrap long tables in a scrollable box.
    """
    formats, headers = formats or {}, headers or {}
    head = "".join(f"<th>{esc(headers.get(c, c))}</th>" for c in frame.columns)
    rows = []
    for record in frame.itertuples(index=False):
        cells = []
        for column, value in zip(frame.columns, record):
            numeric = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
            text = formats.get(column, fmt_number)(value)
            opening = '<td class="num">' if numeric else "<td>"
            cells.append(f"{opening}{esc(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    body = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    return f'<div class="scroll">{body}</div>' if scroll else body


def key_values(items: Iterable[tuple[str, object]]) -> str:
    """A two-column table of labels and (already formatted) values."""
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in items)
    return f"<table>{rows}</table>"


def figure(uri: str, alt: str, caption: str, figure_id: str) -> str:
    """An embedded image with its caption; ``uri`` is a ``data:`` URI."""
    return (f'<figure id="{esc(figure_id)}"><img src="{uri}" alt="{esc(alt)}">'
            f"<figcaption>{esc(caption)}</figcaption></figure>")


def paragraph(text: str) -> str:
    """One paragraph of escaped text."""
    return f"<p>{esc(text)}</p>"


def bullet_list(items: Iterable[str]) -> str:
    """An unordered list of escaped items."""
    return "<ul>" + "".join(f"<li>{esc(item)}</li>" for item in items) + "</ul>"


@dataclass(frozen=True)
class Section:
    """One titled part of the report; ``body`` is HTML."""

    anchor: str
    title: str
    body: str

    def render(self) -> str:
        return f'<section id="{esc(self.anchor)}"><h2>{esc(self.title)}</h2>{self.body}</section>'


def page(title: str, subtitle: str, top: str, sections: list[Section], footer: str) -> str:
    """The whole document: header (title, ``top`` HTML, navigation), sections, footer."""
    nav = "".join(f'<a href="#{esc(s.anchor)}">{esc(s.title)}</a>' for s in sections)
    body = "".join(s.render() for s in sections)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{esc(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        f"<header><h1>{esc(title)}</h1><p class=\"subtitle\">{esc(subtitle)}</p>{top}"
        f"<nav>{nav}</nav></header>\n<main>{body}</main>\n"
        f"<footer>{esc(footer)}</footer>\n</body>\n</html>\n"
    )
