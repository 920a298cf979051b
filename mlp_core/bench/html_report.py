"""``report.html``: one self-contained page per bench run (or per ``mlp-core report``).

The page puts together what the run wrote: the summary (``summary.md``), the scaling map
(``scaling*.md``) and every plot, each inline (base64 PNG), with the commands that regenerate it.
Every table sorts by a click on its header (a few lines of inline script). Nothing is fetched:
no stylesheet, script, font or image comes from anywhere but the file itself, so it opens offline.
Once the page has loaded, its ``<body>`` says how many of its images decoded
(``data-images-loaded="3/3"``), which the browser test reads.
"""

from __future__ import annotations

import base64
import html
import re
from datetime import datetime, timezone
from pathlib import Path

from .. import __version__
from ..fileio import atomic_write_text

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


def write_html(out_dir: str | Path, sections: list[tuple[str, list[Path]]],
               commands: list[str], title: str = "mlp-core benchmark") -> Path:
    """``report.html`` in ``out_dir``: for each section, its Markdown file(s) and plots, in
    order (a heading of the section's name when there are several); returns its path."""
    body = [f"<h1>{html.escape(title)}</h1>",
            f"<p class='meta'>Written {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by "
            f"mlp-core {__version__}, from the rows in <code>results.jsonl</code>.</p>",
            "<h2>Regenerate</h2>", "<p>Measure again:</p>",
            "<pre>" + html.escape("\n".join(commands) or "(the command was not recorded)")
            + "</pre>",
            "<p>Rebuild this page and its files from the rows, without measuring:</p>",
            f"<pre>mlp-core report {html.escape(str(out_dir))} --out "
            f"{html.escape(str(out_dir))}</pre>"]
    for name, files in sections:
        if len(sections) > 1:
            body.append(f"<h1>{html.escape(name)}</h1>")
        for path in files:
            if path.suffix == ".md":
                body.append(markdown_to_html(path.read_text(), demote=1 + (len(sections) > 1)))
            elif path.suffix == ".png":
                data = base64.b64encode(path.read_bytes()).decode()
                body.append(f"<img alt='{html.escape(path.stem)}' "
                            f"src='data:image/png;base64,{data}'>")
    page = ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>\n<body>\n"
            + "\n".join(body) + f"\n<script>{SCRIPT}</script>\n</body></html>\n")
    path = Path(out_dir) / "report.html"
    atomic_write_text(path, page)
    return path


def _inline(text: str) -> str:
    text = html.escape(text, quote=False)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", text)


def markdown_to_html(text: str, demote: int = 0) -> str:
    """The Markdown mlp-core writes (headings, paragraphs, lists, pipe tables) as HTML.
    ``demote``: headings that many levels down (the page has its own title above them)."""
    out, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            level = min(len(line) - len(line.lstrip("#")) + demote, 6)
            out.append(f"<h{level}>{_inline(line.lstrip('#').strip())}</h{level}>")
        elif line.startswith("|"):
            block = []
            while i < len(lines) and lines[i].startswith("|"):
                block.append([c.strip() for c in lines[i].strip().strip("|").split("|")])
                i += 1
            head, rows = block[0], [r for r in block[1:] if not set("".join(r)) <= set("- :")]
            out.append("<table><thead><tr>" + "".join(f"<th>{_inline(c)}</th>" for c in head)
                       + "</tr></thead><tbody>" + "".join(
                           "<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>"
                           for r in rows) + "</tbody></table>")
            continue
        elif line.startswith("- "):
            items = []
            while i < len(lines) and lines[i].startswith("- "):
                items.append(f"<li>{_inline(lines[i][2:])}</li>")
                i += 1
            out.append("<ul>" + "".join(items) + "</ul>")
            continue
        elif line.strip():
            out.append(f"<p>{_inline(line)}</p>")
        i += 1
    return "\n".join(out)
