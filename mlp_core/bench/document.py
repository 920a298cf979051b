"""What a bench run publishes, as data: a document is a list of blocks (headings, paragraphs,
lists, tables of declared columns, plots), rendered to Markdown (``summary.md``, ``scaling.md``)
and, from the very same blocks, to HTML (``report.html``, through a Jinja2 template with
autoescaping on). Neither rendering is parsed from the other.

Text may hold two inline marks, as the Markdown shows them: ```code``` and ``**bold**``; the HTML
renders them after escaping the text.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Column:
    """A table column: the row field it shows, its heading, and how a value is written
    (``fmt`` of the field's value; with ``whole_row``, of the row, for a value that its
    interval's fields complete). ``csv`` names the fields the CSV writes for it."""

    key: str
    heading: str
    fmt: Callable[[Any], str] = str
    whole_row: bool = False
    csv: tuple[str, ...] = ()

    def cell(self, row: dict) -> str:
        value = row.get(self.key)
        if value is None:
            return ""
        return self.fmt(row if self.whole_row else value)

    @property
    def csv_fields(self) -> tuple[str, ...]:
        return self.csv or (self.key,)


@dataclass
class Heading:
    text: str
    level: int = 2


@dataclass
class Paragraph:
    text: str


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Table:
    columns: list[Column]
    rows: list[dict]

    def cells(self) -> list[list[str]]:
        return [[c.cell(r) for c in self.columns] for r in self.rows]


@dataclass
class Plot:
    name: str
    png: bytes = field(repr=False)


Block = Heading | Paragraph | Bullets | Table | Plot


def to_markdown(blocks: list[Block]) -> str:
    """The blocks as Markdown (plots are files beside it, named in the text that cites them)."""
    out: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            out += ["#" * b.level + " " + b.text, ""]
        elif isinstance(b, Paragraph):
            out += [b.text, ""]
        elif isinstance(b, Bullets):
            out += [f"- {item}" for item in b.items] + [""]
        elif isinstance(b, Table):
            out += ["| " + " | ".join(c.heading for c in b.columns) + " |",
                    "|" + " --- |" * len(b.columns)]
            out += ["| " + " | ".join(row) + " |" for row in b.cells()] + [""]
    return "\n".join(out).rstrip("\n") + "\n"


def inline_html(text: str) -> str:
    """Escaped text, with ```code``` and ``**bold**`` marked up."""
    text = html.escape(text, quote=False)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", text)


def png_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()
