"""A letter's draft as a Word document, for practices that edit in a word processor.

Made from the very HTML the draft PDF is rendered from (pdf.letter_html of letters.letter_context),
walked element by element, so the DOCX says what the draft says — headings, paragraphs, lists, the
request-details and criteria tables, the references with their numbers — and follows any change of
the letter templates without a second copy of their content here.
"""

from __future__ import annotations

import io
import re
from typing import Any

from docx import Document
from docx.enum.text import WD_BREAK
from docx.shared import Mm, Pt, RGBColor
from lxml import html as lxml_html

from priorauth.letters import compose as letters
from priorauth.letters import pdf

DOCX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4}
BLOCKS = {"p", "ul", "ol", "table", "div", "section", "header", "footer", "article", "main", *HEADINGS}
SKIPPED = {"script", "style", "head", "title", "meta", "colgroup", "col"}
WARNING = RGBColor(0xAA, 0x00, 0x00)


def _classes(element) -> set[str]:
    return set((element.get("class") or "").split())


def _text(value: str | None) -> str:
    return " ".join((value or "").split())


class _Writer:
    def __init__(self) -> None:
        self.doc = Document()
        section = self.doc.sections[0]
        section.page_width, section.page_height = Mm(215.9), Mm(279.4)
        section.left_margin = section.right_margin = Mm(20)
        section.top_margin, section.bottom_margin = Mm(20), Mm(20)
        normal = self.doc.styles["Normal"]
        normal.font.name, normal.font.size = "Times New Roman", Pt(11)

    # Inline content: runs with bold / italic, line breaks, spaces as HTML collapses them.
    def runs(
        self, paragraph, element, *, bold: bool = False, italic: bool = False, color: RGBColor | None = None
    ) -> None:
        def add(text: str | None, b: bool, i: bool) -> None:
            text = re.sub(r"\s+", " ", text or "")
            if not text:
                return
            if not paragraph.runs:
                text = text.lstrip()
            if not text:
                return
            run = paragraph.add_run(text)
            run.bold, run.italic = b or None, i or None
            if color is not None:
                run.font.color.rgb = color

        def walk(node, b: bool, i: bool) -> None:
            add(node.text, b, i)
            for child in node:
                if not isinstance(child.tag, str):
                    add(child.tail, b, i)
                    continue
                tag = child.tag.lower()
                if tag == "br":
                    paragraph.add_run().add_break(WD_BREAK.LINE)
                elif tag not in SKIPPED:
                    walk(child, b or tag in ("strong", "b", "th"), i or tag in ("em", "i"))
                add(child.tail, b, i)

        walk(element, bold, italic)
        if paragraph.runs:
            paragraph.runs[-1].text = paragraph.runs[-1].text.rstrip()

    def paragraph(self, element, *, style: str | None = None, **fmt: Any):
        paragraph = self.doc.add_paragraph(style=style)
        self.runs(paragraph, element, **fmt)
        return paragraph

    def list(self, element) -> None:
        numbered = element.tag.lower() == "ol"
        number = 0
        for item in element:
            if not isinstance(item.tag, str) or item.tag.lower() != "li":
                continue
            # Explicit numbers (the references' own, from <li value>): Word's automatic numbering
            # would continue across lists and break the [n] citations.
            number = int(item.get("value")) if numbered and (item.get("value") or "").isdigit() else number + 1
            if numbered:
                paragraph = self.doc.add_paragraph()
                paragraph.paragraph_format.left_indent = Mm(7)
                paragraph.paragraph_format.first_line_indent = Mm(-7)
                paragraph.add_run(f"{number}.\t")
                self.runs(paragraph, item)
            else:
                self.paragraph(item, style="List Bullet")

    def table(self, element) -> None:
        rows = [r for r in element.iter("tr")]
        if not rows:
            return
        width = max(len([c for c in r if isinstance(c.tag, str) and c.tag.lower() in ("th", "td")]) for r in rows)
        table = self.doc.add_table(rows=0, cols=width)
        table.style = "Table Grid"
        for row in rows:
            cells = [c for c in row if isinstance(c.tag, str) and c.tag.lower() in ("th", "td")]
            out = table.add_row().cells
            for i, cell in enumerate(cells):
                paragraph = out[i].paragraphs[0]
                self.runs(paragraph, cell, bold=cell.tag.lower() == "th")
        self.doc.add_paragraph()

    def block(self, element) -> None:
        tag = element.tag.lower() if isinstance(element.tag, str) else ""
        if not tag or tag in SKIPPED:
            return
        classes = _classes(element)
        if tag in HEADINGS:
            self.doc.add_heading(_text(element.text_content()), level=HEADINGS[tag])
        elif tag == "p":
            self.paragraph(element)
        elif tag in ("ul", "ol"):
            self.list(element)
        elif tag == "table":
            self.table(element)
        elif "draft-banner" in classes:
            self.paragraph(element, bold=True, color=WARNING)
        elif "practice" in classes:
            paragraph = self.paragraph(element, bold=True)
            for run in paragraph.runs:
                run.font.size = Pt(14)
        elif any(isinstance(c.tag, str) and c.tag.lower() in BLOCKS for c in element):
            # A container: its own loose text (a check-list's lead-in) is a paragraph of its own.
            if _text(element.text):
                paragraph = self.doc.add_paragraph()
                paragraph.add_run(_text(element.text)).bold = "check-list" in classes or None
            for child in element:
                self.block(child)
                if _text(child.tail):
                    self.doc.add_paragraph(_text(child.tail))
        else:
            self.paragraph(element)


def html_docx(html: str) -> bytes:
    """The DOCX of one letter's HTML (title and author carried into the document's properties)."""
    tree = lxml_html.document_fromstring(html)
    writer = _Writer()
    title = tree.find(".//title")
    if title is not None:
        writer.doc.core_properties.title = _text(title.text_content())
    author = tree.find(".//meta[@name='author']")
    if author is not None:
        writer.doc.core_properties.author = author.get("content", "")
    body = tree.find("body")
    for child in body if body is not None else []:
        writer.block(child)
    out = io.BytesIO()
    writer.doc.save(out)
    return out.getvalue()


def letter_docx(letter, revision) -> bytes:
    """The revision's draft (as the draft PDF shows it) as DOCX."""
    return html_docx(pdf.letter_html(letter.kind, letters.letter_context(letter, revision, final=False)))
