"""``report.html``: one self-contained page per bench run (or per ``mlp-core report``).

The page is rendered from the same blocks as the Markdown files (:mod:`mlp_core.bench.document`),
through a Jinja2 template with autoescaping on: the answer first, then the plots, then the
tables, and at the end the commands that measure again and rebuild it. Every plot is inline
(base64 PNG) and every table sorts by a click on its header (a few lines of inline script).
Nothing is fetched: no stylesheet, script, font or image comes from anywhere but the file itself,
so it opens offline. Once the page has loaded, its ``<body>`` says how many of its images decoded
(``data-images-loaded="3/3"``), which the browser test reads.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import jinja2
from markupsafe import Markup

from .. import __version__
from ..fileio import atomic_write_text
from .document import Block, inline_html, png_uri

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1400px; padding: 0 1em;
       color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.8em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: right; white-space: nowrap; }
th { background: #f2f2f2; cursor: pointer; user-select: none; }
th.sorted-asc::after { content: " ▲"; } th.sorted-desc::after { content: " ▼"; }
td:first-child, th:first-child { text-align: left; }
tr:nth-child(even) td { background: #fafafa; }
pre { background: #f6f6f6; padding: 0.6em; overflow-x: auto; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5em 0; }
.scroll { max-width: 100%; overflow-x: auto; }
.meta { color: #666; font-size: 0.85em; }
"""

SCRIPT = """
function sortTable(th) {
  const table = th.closest('table'), body = table.tBodies[0];
  const col = Array.from(th.parentNode.children).indexOf(th);
  const asc = !th.classList.contains('sorted-asc');
  table.querySelectorAll('th').forEach(h => h.classList.remove('sorted-asc', 'sorted-desc'));
  th.classList.add(asc ? 'sorted-asc' : 'sorted-desc');
  const key = td => { const t = td.textContent.trim(), n = parseFloat(t.replace(/[x%,]/g, ''));
                      return isNaN(n) ? t : n; };
  const rows = Array.from(body.rows);
  rows.sort((a, b) => { const x = key(a.cells[col]), y = key(b.cells[col]);
    const c = (typeof x === typeof y) ? (x < y ? -1 : x > y ? 1 : 0)
                                      : (typeof x === 'number' ? -1 : 1);
    return asc ? c : -c; });
  rows.forEach(r => body.appendChild(r));
}
document.querySelectorAll('th').forEach(th => th.addEventListener('click', () => sortTable(th)));
window.addEventListener('load', () => {
  const images = Array.from(document.images);
  const loaded = images.filter(i => i.complete && i.naturalWidth > 0).length;
  document.body.dataset.imagesLoaded = loaded + '/' + images.length;
});
"""


TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>{{ style }}</style></head>
<body>
<h1>{{ title }}</h1>
<p class="meta">Written {{ written }} UTC by mlp-core {{ version }}, from the rows in
<code>results.jsonl</code>.</p>
{% for name, blocks in sections %}
{% if sections | length > 1 %}<h1>{{ name }}</h1>{% endif %}
{% for b in blocks %}{% set k = kind(b) %}
{% set h = [b.level + demote, 6] | min if k == "Heading" %}
{% if k == "Heading" and b.level == 1 and b.text == title %}
{% elif k == "Heading" %}<h{{ h }}>{{ inline(b.text) }}</h{{ h }}>
{% elif k == "Paragraph" %}<p>{{ inline(b.text) }}</p>
{% elif k == "Bullets" %}<ul>
{% for item in b.items %}<li>{{ inline(item) }}</li>
{% endfor %}</ul>
{% elif k == "Plot" %}<img alt="{{ b.name }}" src="{{ png_uri(b.png) }}">
{% elif k == "Table" %}<div class="scroll"><table><thead><tr>
{% for c in b.columns %}<th>{{ c.heading }}</th>{% endfor %}
</tr></thead><tbody>
{% for row in b.cells() %}<tr>{% for cell in row %}<td>{{ inline(cell) }}</td>{% endfor %}</tr>
{% endfor %}</tbody></table></div>
{% endif %}{% endfor %}{% endfor %}
<h2>Regenerate</h2>
{% for label, text in regenerate %}<p>{{ label }}</p>
<pre>{{ text }}</pre>
{% endfor %}
<script>{{ script }}</script>
</body></html>
"""

_ENV = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
_ENV.globals.update(kind=lambda b: type(b).__name__, png_uri=png_uri,
                    inline=lambda text: Markup(inline_html(text)))


def render_html(sections: list[tuple[str, list[Block]]], regenerate: list[tuple[str, str]],
                title: str = "mlp-core benchmark") -> str:
    """The page: for each section (a heading of its name when there are several), its blocks;
    at the end, ``regenerate``'s (what it does, the command) pairs."""
    return _ENV.from_string(TEMPLATE).render(
        title=title, written=f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M}", version=__version__,
        sections=sections, demote=1 + (len(sections) > 1), regenerate=regenerate,
        style=Markup(STYLE), script=Markup(SCRIPT))


def write_html(out_dir: str | Path, sections: list[tuple[str, list[Block]]],
               commands: list[str], title: str = "mlp-core benchmark",
               page: str = "report.html") -> Path:
    """``page`` in ``out_dir``, written atomically; returns its path. ``commands``: those that
    measured the rows (a bench page also says how to rebuild itself from them)."""
    if page == "report.html":
        regenerate = [("Measure again:", "\n".join(commands) or "(the command was not recorded)"),
                      ("Rebuild this page and its files from the rows, without measuring:",
                       f"mlp-core report {out_dir} --out {out_dir}")]
    else:
        regenerate = [("Make this page again:", "\n".join(commands))]
    path = Path(out_dir) / page
    atomic_write_text(path, render_html(sections, regenerate, title))
    return path
