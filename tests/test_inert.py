"""Nothing a student wrote runs in the browser of whoever opens the graded notebook (InertContent)."""

from html.parser import HTMLParser

import nbformat
from nbconvert import HTMLExporter

from autograder.pipeline.inert import InertContent, inert_markdown

PNG = "iVBORw0KGgo="
RUNS = {"script", "svg", "iframe", "object", "embed", "math", "style", "link", "meta", "base", "form"}


class ActiveContent(HTMLParser):
    """Elements and attributes of an HTML page through which it can run something or reach out."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in RUNS:
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on") or (value or "").strip().lower().startswith(("javascript:", "vbscript:")):
                self.found.append(f"<{tag} {name}={value}>")


def _active(html: str) -> list[str]:
    parser = ActiveContent()
    parser.feed(html)
    return parser.found


def _attack() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    code = nbformat.v4.new_code_cell("display(HTML(...))")
    code.outputs = [
        nbformat.v4.new_output(
            "display_data",
            data={
                "text/html": "<img src=x onerror=\"fetch('/formgrader/api/grade/1', {method: 'PUT'})\">",
                "image/svg+xml": "<svg onload=alert(1)></svg>",
                "application/javascript": "alert(1)",
                "text/markdown": "<script>alert(1)</script>",
            },
        ),
        nbformat.v4.new_output("execute_result", data={"text/html": "<iframe src=//evil>", "text/plain": "a frame"}),
        nbformat.v4.new_output(
            "display_data", data={"image/png": "iVBORw0KGgo="}, metadata={"image/png": {"width": 10}}
        ),
    ]
    markdown = nbformat.v4.new_markdown_cell(
        "My answer <script>alert(1)</script> <img src=x onerror=alert(1)> [click](javascript:alert(1)) "
        "<details><summary>more</summary>x<sub>2</sub></details>"
    )
    markdown.attachments = {
        "a.svg": {"image/svg+xml": "<svg onload=alert(1)/>"},
        "b.png": {"image/png": "iVBORw0KGgo="},
    }
    raw = nbformat.v4.new_raw_cell("<script>alert(1)</script>")
    nb.cells = [code, markdown, raw]
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    return nb


def test_no_active_content_survives_in_the_page_the_formgrader_renders():
    nb, _ = InertContent().preprocess(_attack(), {})
    body = HTMLExporter(template_name="classic").from_notebook_node(nb)[0]
    cells = body[body.index("<body") :]  # the page's own scripts (MathJax, its styles) come before
    assert _active(cells) == []
    untreated = HTMLExporter(template_name="classic").from_notebook_node(_attack())[0]
    assert len(_active(untreated[untreated.index("<body") :])) >= 4  # the check itself sees the attacks
    outputs = nb.cells[0].outputs
    assert [sorted(o.get("data", {})) for o in outputs] == [["text/plain"], ["text/plain"], ["image/png"]]
    assert "removed by the autograder" in outputs[0].data["text/plain"]  # says what was removed
    assert outputs[1].data["text/plain"] == "a frame"  # the plain-text form stays
    assert list(nb.cells[1].attachments) == ["b.png"] and "widgets" not in nb.metadata


def test_markdown_keeps_the_lessons_plain_tags_and_shows_the_rest_as_text():
    assert inert_markdown("<details><summary>Hint</summary>x<sub>i</sub></details>") == (
        "<details><summary>Hint</summary>x<sub>i</sub></details>"
    )
    assert inert_markdown('<details open onclick="x()">') == '&lt;details open onclick="x()">'
    assert inert_markdown("a < b and <b>bold</b>") == "a &lt; b and <b>bold</b>"
    assert inert_markdown("65.1% <!-- paper: Clark et al. (2019) -->") == "65.1% <!-- paper: Clark et al. (2019) -->"
    assert inert_markdown("<!--><img src=x onerror=alert(1)>-->") == "<!-->&lt;img src=x onerror=alert(1)>-->"
