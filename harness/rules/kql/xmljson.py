"""parse_xml(): XML text to the JSON shape the Kusto page gives (parse-xmlfunction, "Returns").

<e/> -> {"e": null}; <e>text</e> -> {"e": "text"}; attributes become "@name" slots and text beside
attributes or child elements becomes "#text"; repeated child elements become an array. Only elements,
attributes and text are kept; input over 1 MB, or text that is not XML, gives null.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

MAX_INPUT = 1_048_576


def _element(el: ET.Element) -> Any:
    out: dict[str, Any] = {f"@{k}": v for k, v in el.attrib.items()}
    text = "".join(t.strip() for t in (el.text, *(c.tail for c in el)) if t and t.strip())
    children: dict[str, list[Any]] = {}
    for c in el:
        children.setdefault(c.tag, []).append(_element(c))
    if not out and not children:
        return text or None
    if text:
        out["#text"] = text
    out.update({k: v[0] if len(v) == 1 else v for k, v in children.items()})
    return out


def parse_xml(text: str | None) -> str | None:
    """The JSON text of ``text`` parsed as XML, or None (Kusto's null) when it is not XML."""
    if text is None or len(text.encode("utf-8", "replace")) > MAX_INPUT:
        return None
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        return None
    return json.dumps({root.tag: _element(root)}, ensure_ascii=False)
