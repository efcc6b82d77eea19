"""The request and response values handlers see: no sockets, so every service is a pure function."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs


@dataclass(frozen=True)
class Request:
    """One HTTP request as a service handler sees it. ``host`` is the Host header without port,
    lowercased (falling back to the SNI, then the listening service's first name)."""

    method: str
    host: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes = b""
    tls: bool = False
    sni: str | None = None

    def params(self) -> dict[str, list[str]]:
        return parse_qs(self.query, keep_blank_values=True)

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.params().get(name)
        return values[0] if values else default

    def header(self, name: str, default: str | None = None) -> str | None:
        # The server stores header names lowercased.
        return self.headers.get(name.lower(), default)

    def form(self) -> dict[str, list[str]]:
        """``application/x-www-form-urlencoded`` body fields."""
        return parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True)

    def cookies(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for part in (self.header("cookie") or "").split(";"):
            name, sep, value = part.strip().partition("=")
            if sep:
                out[name] = value
        return out


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str
    headers: tuple[tuple[str, str], ...] = field(default=())


def json_response(status: int, doc: Any, content_type: str = "application/json") -> Response:
    return Response(status, json.dumps(doc, indent=None).encode(), content_type)


def html_response(status: int, html: str, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    return Response(status, html.encode("utf-8"), "text/html; charset=utf-8", headers)


def text_response(status: int, text: str) -> Response:
    return Response(status, text.encode("utf-8"), "text/plain; charset=utf-8")
