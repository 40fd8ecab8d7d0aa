"""
InertContent: the step of the Autograde pipeline that keeps anything a student wrote from running in the
browser of whoever opens the graded notebook (the instructor's Formgrader shows the autograded copy on
the Jupyter server's own origin, where a script could press any button the instructor can).

Every output of a submission comes from the student's kernel, whatever cell it belongs to, so every
output keeps only what a browser shows without running anything: text, and PNG, JPEG or GIF images
(shown from a data: URL). HTML, SVG, JavaScript, Markdown, LaTeX and widget outputs are replaced by a
line that says what was removed. In Markdown cells (a student can edit or add any), HTML is shown as
text, except comments and a few tags the lessons use that take no attributes (<sub>, <details>, ...), and links to
javascript: URLs lose their target; raw cells are shown as text. Attachments keep their images only.
"""

from __future__ import annotations

import re

from nbformat import NotebookNode
from nbgrader.preprocessors import NbGraderPreprocessor

SAFE_DATA = frozenset({"text/plain", "image/png", "image/jpeg", "image/gif"})
_SAFE_TAG = r"/?(?:sub|sup|details|summary|br|b|i|em|strong|code|kbd|p|ul|ol|li)>"
# An HTML comment runs nothing (the course marks quoted paper figures with one); what follows its
# opening is escaped like the rest, so `<!--><img onerror=...>` stays text.
_UNSAFE_TAG = re.compile(rf"<(?!{_SAFE_TAG}|!--)")
_SCRIPT_URL = re.compile(r"(?i)\b(?:java|vb)script\s*:")


def inert_markdown(source: str) -> str:
    """Markdown whose HTML is shown as text (but for a few attribute-free tags), with script links cut."""
    return _SCRIPT_URL.sub("removed:", _UNSAFE_TAG.sub("&lt;", source))


def _removed(kinds: list[str]) -> str:
    return f"[{', '.join(sorted(kinds))} output removed by the autograder: only text and images are kept]"


def inert_output(output: NotebookNode) -> None:
    """Keep only the parts of an output that a browser shows without running anything."""
    data = output.get("data")
    if not isinstance(data, dict):
        return
    dropped = [mime for mime in data if mime not in SAFE_DATA]
    for mime in dropped:
        del data[mime]
    if dropped and "text/plain" not in data:
        data["text/plain"] = _removed(dropped)
    if "metadata" in output:  # per-output metadata can carry widget state or image attributes
        output.metadata = NotebookNode(
            {k: v for k, v in output.metadata.items() if k in data and isinstance(v, dict) and _plain(v)}
        )


def _plain(metadata: dict) -> bool:
    return all(key in ("width", "height") and type(value) is int for key, value in metadata.items())


class InertContent(NbGraderPreprocessor):
    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        nb.metadata.pop("widgets", None)  # saved widget state is rendered by scripts
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell: NotebookNode, resources: dict, index: int) -> tuple[NotebookNode, dict]:
        if cell.cell_type == "code":
            for output in cell.get("outputs", []):
                inert_output(output)
        elif cell.cell_type == "raw":  # nbconvert pastes a raw cell into the page as it is
            cell.source = cell.source.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            cell.metadata.pop("raw_mimetype", None)
            cell.metadata.pop("format", None)
        elif cell.cell_type == "markdown":
            cell.source = inert_markdown(cell.source)
            attachments = cell.get("attachments")
            if isinstance(attachments, dict):
                for name, bundle in list(attachments.items()):
                    images = bundle.items() if isinstance(bundle, dict) else []
                    kept = {mime: value for mime, value in images if mime in SAFE_DATA - {"text/plain"}}
                    if kept:
                        attachments[name] = NotebookNode(kept)
                    else:
                        del attachments[name]
        return cell, resources
