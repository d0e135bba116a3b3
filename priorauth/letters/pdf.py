"""The one PDF helper: render templates/letters/<kind>.html with its context, lay it out with the
one shared print stylesheet, and return PDF bytes. Everything letter-specific lives in the template
and its context (priorauth/letters/compose.py), nothing here.

The parsed stylesheet and the font configuration are made once per process (lazily, so that each
forked Celery worker child makes its own) and reused by every render. WeasyPrint itself is imported
on first use: it costs most of a second, which every web process and `check_case` would otherwise
pay at start-up without ever rendering a PDF.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

from django.conf import settings
from django.template.loader import render_to_string

if TYPE_CHECKING:
    import weasyprint
    from weasyprint.text.fonts import FontConfiguration

KINDS = ("prior_authorization", "appeal")
TEMPLATE_DIR = Path(settings.BASE_DIR) / "templates" / "letters"
STYLESHEET = TEMPLATE_DIR / "print.css"
ASSETS_DIR = TEMPLATE_DIR.resolve()


def letter_url_fetcher(url: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """WeasyPrint's only way out: files of the letters' own folder (templates/letters: the print
    stylesheet and anything it or a template references). No http(s):, no data:, no file: outside
    it, so that neither a letter's text nor an edited template can make a render fetch a URL (a
    request to an internal service) or embed a file of the server (/etc/passwd, the media folder's
    other patients' files) in a PDF. A refused URL fails that resource only; WeasyPrint leaves it out."""
    from weasyprint import default_url_fetcher

    if url.startswith("file:"):
        path = Path(url2pathname(urlsplit(url).path)).resolve()
        if path.is_relative_to(ASSETS_DIR) and path.is_file():
            return default_url_fetcher(url, *args, **kwargs)
    raise ValueError(f"a letter may only use its own assets (templates/letters), not {url[:100]!r}")


@cache
def font_config() -> FontConfiguration:
    from weasyprint.text.fonts import FontConfiguration

    return FontConfiguration()


@cache
def stylesheet() -> weasyprint.CSS:
    import weasyprint

    return weasyprint.CSS(filename=str(STYLESHEET), font_config=font_config(), url_fetcher=letter_url_fetcher)


def letter_html(kind: str, context: dict[str, Any]) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown letter kind {kind!r}")
    return render_to_string(f"letters/{kind}.html", context)


def html_document(html: str) -> weasyprint.Document:
    """The laid-out pages (tests inspect their boxes for overflow)."""
    import weasyprint

    return weasyprint.HTML(string=html, base_url=str(TEMPLATE_DIR), url_fetcher=letter_url_fetcher).render(
        stylesheets=[stylesheet()], font_config=font_config(), pdf_variant=settings.LETTER_PDF_VARIANT
    )


def html_pdf(html: str) -> bytes:
    return html_document(html).write_pdf(pdf_variant=settings.LETTER_PDF_VARIANT)


def render_letter(kind: str, context: dict[str, Any]) -> bytes:
    return html_pdf(letter_html(kind, context))
