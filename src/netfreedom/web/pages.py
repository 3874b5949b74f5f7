"""The API's own pages: a landing page at ``/`` (when no site is served) and a reference at ``/docs``.

Both are plain HTML rendered from the OpenAPI document, with no script and nothing fetched from elsewhere,
so they work offline and under the API's Content-Security-Policy (FastAPI's interactive docs load their
scripts from a CDN).
"""

from __future__ import annotations

from html import escape
from typing import Any

_HEAD = (
    '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1">'
    "<title>{title}</title></head>\n<body>\n"
)


def _operations(openapi: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method.upper(), op)
        for path, item in openapi.get("paths", {}).items()
        for method, op in item.items()
        if isinstance(op, dict)
    ]


def landing_page(openapi: dict[str, Any]) -> str:
    """``/`` of an API served without a site: what this is and where to go."""
    info = openapi.get("info", {})
    title = f"{info.get('title', 'API')} {info.get('version', '')}".strip()
    rows = []
    for path, method, op in _operations(openapi):
        code = f"<code>{method} {escape(path)}</code>"
        if "{" not in path:  # a path without parameters to fill in is a working link
            code = f'<a href="{escape(path)}">{code}</a>'
        rows.append(f"<li>{code} — {escape(op.get('summary', ''))}</li>\n")
    return (
        _HEAD.format(title=escape(title))
        + f"<h1>{escape(title)}</h1>\n<p>{escape(info.get('description', ''))}</p>\n"
        + '<p><a href="/docs">Reference (every endpoint and parameter)</a> · '
        '<a href="/openapi.json">OpenAPI document</a></p>\n'
        + f"<h2>Endpoints</h2>\n<ul>\n{''.join(rows)}</ul>\n"
        + "<p>No site is served here: publish one with <code>netfreedom report --output DIR</code> and "
        "start <code>netfreedom serve --site DIR</code> (or <code>--project DIR</code>).</p>\n"
        "</body></html>\n"
    )


def _schema_type(schema: dict[str, Any]) -> str:
    if "anyOf" in schema:
        return " | ".join(_schema_type(s) for s in schema["anyOf"] if s.get("type") != "null")
    if "enum" in schema:
        return " | ".join(str(v) for v in schema["enum"])
    kind = str(schema.get("type", ""))
    if schema.get("format"):
        kind += f" ({schema['format']})"
    return kind


def reference_page(openapi: dict[str, Any]) -> str:
    """``/docs``: every endpoint with its parameters, from the OpenAPI document."""
    info = openapi.get("info", {})
    title = f"{info.get('title', 'API')} {info.get('version', '')}".strip()
    parts = [
        _HEAD.format(title=escape(f"Reference — {title}")),
        f"<h1>{escape(title)}: reference</h1>\n<p>{escape(info.get('description', ''))}</p>\n",
        '<p><a href="/">Home</a> · <a href="/openapi.json">OpenAPI document</a></p>\n',
    ]
    for path, method, op in _operations(openapi):
        parts.append(
            f"<h2><code>{method} {escape(path)}</code></h2>\n<p>{escape(op.get('summary', ''))}</p>\n"
        )
        if op.get("description"):
            parts.append(f"<p>{escape(op['description'])}</p>\n")
        params = op.get("parameters", [])
        if params:
            parts.append("<table><tr><th>parameter</th><th>in</th><th>type</th><th>description</th></tr>\n")
            for p in params:
                schema = p.get("schema", {})
                required = " (required)" if p.get("required") else ""
                desc = p.get("description") or schema.get("description") or ""
                constraints = [
                    f"{k} {schema[k]}" for k in ("minimum", "maximum", "pattern", "maxLength") if k in schema
                ]
                if "default" in schema:
                    constraints.append(f"default {schema['default']}")
                extra = f" [{'; '.join(constraints)}]" if constraints else ""
                parts.append(
                    f"<tr><td><code>{escape(p.get('name', ''))}</code>{required}</td>"
                    f"<td>{escape(p.get('in', ''))}</td><td>{escape(_schema_type(schema))}</td>"
                    f"<td>{escape(desc + extra)}</td></tr>\n"
                )
            parts.append("</table>\n")
    parts.append("</body></html>\n")
    return "".join(parts)
