"""Active content in an uploaded PDF: JavaScript, actions run on opening (/OpenAction), programs
launched (/Launch) and embedded files. A payer's reviewer or our own staff open these attachments,
so a PDF carrying any of them is refused (issue 10).

Two looks, both bounded: pypdf reads the document and every object it lists (names decoded,
compressed object streams opened); and, for a file pypdf cannot read (viewers repair what it
refuses), a scan of the raw bytes with name escapes (#4A) decoded and Flate streams inflated.
"""

from __future__ import annotations

import io
import re
import zlib

__all__ = ["pdf_active_content"]

MAX_OBJECTS = 200_000
MAX_INFLATED = 100 * 1024 * 1024  # bytes of inflated streams looked at, in all

# What each name means, said to the uploader.
_FOUND = {
    "/JavaScript": "JavaScript",
    "/JS": "JavaScript",
    "/OpenAction": "an action run on opening (/OpenAction)",
    "/Launch": "an action that launches a program (/Launch)",
    "/EmbeddedFiles": "embedded files",
    "/EmbeddedFile": "embedded files",
    "/EF": "embedded files",
}
_RAW_NAME = re.compile(rb"/(JavaScript|JS|OpenAction|Launch|EmbeddedFiles?)(?=[\s/<>\[\]()%{}]|$)")
_NAME_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
_STREAM = re.compile(rb"stream\r?\n(.*?)endstream", re.DOTALL)


def pdf_active_content(data: bytes) -> str | None:
    """What active content the PDF carries ("JavaScript", ...), or None when it carries none."""
    found = _by_pypdf(data)
    if found is None:
        found = _by_bytes(data)
    return found or None


def _by_pypdf(data: bytes) -> str | None:
    """ "" when pypdf read every object and found nothing, the finding, or None when it could not read."""
    from pypdf import PdfReader
    from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        ids = [(num, gen) for gen, table in reader.xref.items() for num in table]
        ids += [(num, 0) for num in reader.xref_objStm]
        if len(ids) > MAX_OBJECTS:
            return "more objects than can be checked"
        # Every dictionary: the indirect objects and the direct ones nested inside them (an
        # annotation's action is often written inline); references are followed as their own ids.
        roots = [reader.trailer] + [reader.get_object(IndirectObject(num, gen, reader)) for num, gen in ids]
        dictionaries, stack, seen = [], list(roots), 0
        while stack:
            seen += 1
            if seen > MAX_OBJECTS * 10:
                return "more objects than can be checked"
            node = stack.pop()
            if isinstance(node, DictionaryObject):
                dictionaries.append(node)
                stack.extend(v for v in node.values() if isinstance(v, (DictionaryObject, ArrayObject)))
            elif isinstance(node, ArrayObject):
                stack.extend(v for v in node if isinstance(v, (DictionaryObject, ArrayObject)))
        for obj in dictionaries:
            for key in ("/JS", "/OpenAction", "/EmbeddedFiles", "/EF"):
                if key in obj:
                    return _FOUND[key]
            for key in ("/S", "/Type"):
                value = obj.get(key)
                if isinstance(value, NameObject) and value in ("/JavaScript", "/Launch", "/EmbeddedFile"):
                    return _FOUND[str(value)]
            names = obj.get("/Names")
            if isinstance(names, DictionaryObject) and ("/JavaScript" in names or "/EmbeddedFiles" in names):
                return _FOUND["/JavaScript" if "/JavaScript" in names else "/EmbeddedFiles"]
    except Exception:  # noqa: BLE001 (pypdf raises many kinds on a damaged file: the raw scan decides)
        return None
    return ""


def _by_bytes(data: bytes) -> str:
    inflated = 0
    parts = [data]
    for match in _STREAM.finditer(data):
        if inflated > MAX_INFLATED:
            return "more compressed content than can be checked"
        inflater = zlib.decompressobj()
        try:
            part = inflater.decompress(match.group(1), MAX_INFLATED - inflated + 1)
        except zlib.error:
            continue
        inflated += len(part)
        parts.append(part)
    if inflated > MAX_INFLATED:
        return "more compressed content than can be checked"
    for part in parts:
        decoded = _NAME_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), part)
        if found := _RAW_NAME.search(decoded):
            return _FOUND["/" + found.group(1).decode()]
    return ""
