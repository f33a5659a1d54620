"""A small, safe Markdown subset for the text files other steps write (comparison.md, summary.md).

Supported: ``#`` headings, paragraphs, ``-``/``*`` bullet lists (indented lines continue an
item), pipe tables, fenced code blocks, and inline ``**bold**``, ``*italic*`` and ```code```.
Everything is escaped first, so a file can never inject markup or scripts.
"""

from __future__ import annotations

import re

from pss_bayes.report.html import esc

_BOLD = re.compile(r"\*\*(.+?)\*\*")
_ITALIC = re.compile(r"(?<![\*\w])\*(?!\s)(.+?)(?<!\s)\*(?![\*\w])")
_CODE = re.compile(r"`([^`]+)`")
_BULLET = re.compile(r"^\s*[-*]\s+")
_RULE = re.compile(r"^\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?$")


def _inline(text: str) -> str:
    out = esc(text)
    out = _CODE.sub(r"<code>\1</code>", out)
    out = _BOLD.sub(r"<strong>\1</strong>", out)
    return _ITALIC.sub(r"<em>\1</em>", out)


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _table(lines: list[str]) -> str:
    head, rows = _cells(lines[0]), [_cells(x) for x in lines[1:] if not _RULE.match(x.strip())]
    header = "".join(f"<th>{_inline(c)}</th>" for c in head)
    body = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"


def markdown_html(text: str, heading_offset: int = 2) -> str:
    """Render a Markdown subset as HTML.

    Parameters
    ----------
    text
        Markdown source.
    heading_offset
        Added to heading levels, so that ``#`` in the file nests under the
        report's own section headings (``#`` becomes ``<h3>`` by default).
    """
    blocks: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].rstrip()
        stripped = line.strip()
        if not stripped:
            i += 1
        elif stripped.startswith("```"):
            j = i + 1
            while j < len(lines) and not lines[j].strip().startswith("```"):
                j += 1
            blocks.append("<pre>" + esc("\n".join(lines[i + 1:j])) + "</pre>")
            i = j + 1
        elif stripped.startswith("#"):
            level = min(len(stripped) - len(stripped.lstrip("#")) + heading_offset, 6)
            blocks.append(f"<h{level}>{_inline(stripped.lstrip('#').strip())}</h{level}>")
            i += 1
        elif stripped.startswith("|"):
            j = i
            while j < len(lines) and lines[j].strip().startswith("|"):
                j += 1
            blocks.append(_table(lines[i:j]))
            i = j
        elif _BULLET.match(stripped):
            items = []
            while i < len(lines) and _BULLET.match(lines[i]):
                item = [_BULLET.sub("", lines[i]).strip()]
                i += 1
                while (i < len(lines) and lines[i][:1] in (" ", "\t") and lines[i].strip()
                       and not _BULLET.match(lines[i])):
                    item.append(lines[i].strip())       # an indented line continues the item
                    i += 1
                items.append(f"<li>{_inline(' '.join(item))}</li>")
            blocks.append("<ul>" + "".join(items) + "</ul>")
        else:
            para = [stripped]
            i += 1
            while i < len(lines) and lines[i].strip() and not re.match(r"^\s*([#|]|[-*]\s|```)", lines[i]):
                para.append(lines[i].strip())
                i += 1
            blocks.append(f"<p>{_inline(' '.join(para))}</p>")
    return "\n".join(blocks)
