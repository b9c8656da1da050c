"""The report's index.html: what was scanned, the p_fake histogram, the labeled metrics and the most confident
mistakes (when labeled), and the gallery of thumbnails ranked by p_fake. Every text that came from a file name or
a file's metadata is HTML-escaped; the page loads nothing from outside its folder."""

from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from typing import Any

from imgcheck.infer.evaluate.gallery import Gallery, GalleryItem
from imgcheck.infer.evaluate.metrics import METRIC_KEYS, format_metric

SMALL_IMAGE = 100  # images below this side are enlarged without smoothing (CIFAKE's 32×32 stay crisp)
_SUBGROUP_COLUMNS = ("n", "n_errors", "accuracy", "roc_auc", "f1", "precision", "recall", "log_loss")


def _e(text: str) -> str:
    """`text` escaped for HTML; bytes that were not UTF-8 in a file name (surrogate escapes) become U+FFFD."""
    return html.escape(text.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 76em; color: #222; padding: 0 1em; }
table { border-collapse: collapse; margin: 1em 0; } th, td { padding: 0.2em 0.8em; border-bottom: 1px solid #ddd; }
th { text-align: left; } td { text-align: right; font-variant-numeric: tabular-nums; }
.figures { display: flex; flex-wrap: wrap; gap: 1em; } .figures figure { margin: 0; } .figures img { width: 24em; }
.warning { background: #fff4d6; border-left: 4px solid #e0a800; padding: 0.5em 1em; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(11em, 1fr)); gap: 0.8em; }
.card { margin: 0; padding: 0.4em; border: 1px solid #ccc; border-radius: 4px; font-size: 0.8em;
        overflow-wrap: anywhere; }
.card.FAKE { border-color: #d9534f; } .card.REAL { border-color: #5b8def; } .card.UNSURE { border-style: dashed; }
.card .thumb { height: 160px; display: flex; align-items: center; justify-content: center; background: #f4f4f4; }
.card img { width: 100%; height: 160px; object-fit: contain; } .card img.small { image-rendering: pixelated; }
.card b { font-variant-numeric: tabular-nums; }
.prov { color: #7a3e00; } .missing { color: #888; }
"""


@dataclass(frozen=True)
class ScanContext:
    """What the page says about the scan itself (the same facts as the summary and the sidecar)."""

    model: dict[str, Any]  # name, arch, sha256
    threshold: float
    inputs: list[str]
    counts: dict[str, int]  # files, REAL, FAKE, ERROR (the whole output file)
    provenance: str  # files per claim, e.g. "ai-generated 3, camera 2"
    skipped: dict[str, int] = field(default_factory=dict)  # files skipped inside folders, by suffix
    warnings: list[str] = field(default_factory=list)  # domain notes
    domain: str = ""  # images out of the model's domain, and abstained: "3 of 4 (...); 3 abstained (UNSURE)"


def render_page(context: ScanContext, gallery: Gallery, thumbs: dict[str, str | None],
                document: dict[str, Any] | None, plots: dict[str, str], histogram: str) -> str:
    """The whole index.html."""
    model = context.model
    counts = context.counts
    skipped = ", ".join(f"{_e(k)} {v:,}" for k, v in context.skipped.items())
    warnings = "".join(f'<p class="warning">{_e(w)}</p>' for w in context.warnings)
    unsure = f", {counts['UNSURE']:,} UNSURE (abstained: out of domain)" if "UNSURE" in counts else ""
    labeled = _labeled_sections(document, plots, gallery, thumbs) if document is not None else ""
    ranked = gallery.ranked()
    shown = (f"the {len(ranked):,} with the highest p_fake of {gallery.scored:,} scored images (--report-limit)"
             if len(ranked) < gallery.scored else f"all {gallery.scored:,} scored images")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>imgcheck report: {_e(str(model.get('name', '')))}</title>
<style>{_STYLE}</style></head><body>
<h1>imgcheck report</h1>
<p>Model <code>{_e(str(model.get('name', '?')))}</code> ({_e(str(model.get('arch', '?')))}), sha256
<code>{_e(str(model.get('sha256', '?')))}</code>; threshold {context.threshold:g} (FAKE when p_fake &ge; threshold).<br>
Inputs: {_e(', '.join(context.inputs))}.<br>
{counts.get('files', 0):,} files: {counts.get('REAL', 0):,} REAL, {counts.get('FAKE', 0):,} FAKE,
{counts.get('ERROR', 0):,} ERROR{unsure}. Provenance: {_e(context.provenance)}.
{f'<br>Out of domain (far from the training sizes): {_e(context.domain)}.' if context.domain else ''}
{f'<br>Skipped inside folders (not images): {skipped}.' if skipped else ''}</p>
{warnings}
<p>The verdicts are the model's, from the pixels; provenance is what each file's own metadata says (C2PA, XMP,
PNG text, EXIF). Its absence proves nothing: platforms strip metadata.</p>
<figure><img src="{_e(histogram)}" alt="histogram of p_fake"><figcaption>p_fake of every scanned image</figcaption>
</figure>
{labeled}
<h2 id="ranked">Images ranked by p_fake, most FAKE first</h2>
<p>Showing {shown}.</p>
{_cards(ranked, thumbs)}
</body></html>
"""


def _labeled_sections(document: dict[str, Any], plots: dict[str, str], gallery: Gallery,
                      thumbs: dict[str, str | None]) -> str:
    """Metrics, plots, the most confident mistakes of each kind and the subgroup tables of the labeled images."""
    labels = document["labels"]
    metrics = document["metrics"]
    abstained = (f", {metrics['n_abstained']:,} UNSURE (out of the model's domain; not scored)"
                 if metrics.get("n_abstained") else "")
    rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(format_metric(metrics.get(k)))}</td></tr>" for k in METRIC_KEYS)
    figures = "".join(f'<figure><img src="{_e(name)}" alt="{_e(title)}"><figcaption>{_e(title)}</figcaption></figure>'
                      for name, title in plots.items())
    subgroup_tables = []
    for kind, groups in document.get("groups", {}).items():
        head = "".join(f"<th>{_e(c)}</th>" for c in ("group", *_SUBGROUP_COLUMNS))
        body = "".join("<tr><td>" + _e(name) + "</td>" + "".join(f"<td>{_e(format_metric(m.get(c)))}</td>"
                                                               for c in _SUBGROUP_COLUMNS) + "</tr>"
                       for name, m in groups.items())
        subgroup_tables.append(f"<h2>Per {_e(kind)}</h2><table><tr>{head}</tr>{body}</table>")
    unlabeled = ""
    if labels["unlabeled"]:
        examples = "".join(f"<li>{_e(path)}</li>" for path in labels["unlabeled_examples"])
        unlabeled = (f"<p>{labels['unlabeled']:,} files had no label and are not scored, for example:</p>"
                     f"<ul>{examples}</ul>")
    mistakes = []
    for title, items in (("REAL images called FAKE, most confident first", gallery.false_fakes()),
                         ("FAKE images called REAL, most confident first", gallery.false_reals())):
        mistakes.append(f"<h3>{_e(title)}</h3>" + (_cards(items, thumbs) if items else "<p>None.</p>"))
    return f"""<h2>Labeled images</h2>
<p>Labels from {_e(labels['source'])}: {labels['labeled']:,} labeled files, {metrics['n_errors']:,} of them unreadable
(not scored){abstained}.</p>
{unlabeled}
<div class="figures">{figures}</div>
<h2>Most confident mistakes</h2>
{''.join(mistakes)}
<h2>Metrics (FAKE is the positive class)</h2><table>{rows}</table>
{''.join(subgroup_tables)}
"""


def _cards(items: list[GalleryItem], thumbs: dict[str, str | None]) -> str:
    return '<div class="grid">' + "".join(_card(item, thumbs.get(item.row.path)) for item in items) + "</div>"


def _card(item: GalleryItem, thumb: str | None) -> str:
    row = item.row
    name = os.path.basename(row.path) or row.path
    small = row.width is not None and row.height is not None and max(row.width, row.height) < SMALL_IMAGE
    picture = (f'<img src="{_e(thumb)}" alt="{_e(name)}"{" class=small" if small else ""}>' if thumb
               else '<span class="missing">no thumbnail (unreadable now)</span>')
    size = f"{row.width}×{row.height}" if row.width is not None and row.height is not None else "size unknown"
    if row.domain is not None:
        size += f" · domain {row.domain}"
    label = f" · labeled {_e(item.label)}" if item.label else ""
    provenance = "<br>".join(_e(part) for part in row.provenance.split(";")) if row.provenance else ""
    if provenance:
        provenance = f'<span class="prov">{provenance}</span><br>'
    return (f'<figure class="card {_e(row.verdict)}" title="{_e(row.path)}"><div class="thumb">{picture}</div>'
            f"<figcaption><b>p_fake {row.p_fake:.4f}</b> {_e(row.verdict)}{label}<br>{provenance}"
            f"{_e(size)} · {_e(name)}</figcaption></figure>")
