"""The catalogue as a reference page (``docs/catalog.md``), generated so it never drifts from
the YAML the data zone actually loads; a test fails when the page and the catalogue differ."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from purecredit.ingest.catalog import Catalog, FieldDef, SourceDef

REGENERATE = (
    'python -c "from purecredit.ingest.catalog import load_catalog; '
    "from purecredit.ingest.catalog_doc import catalog_reference_markdown as m; "
    "open('docs/catalog.md', 'w', encoding='utf-8').write(m(load_catalog()))\""
)


def catalog_reference_markdown(catalog: Catalog) -> str:
    """Render the whole catalogue: a summary of sources, the data items with their authority
    and cross-checks, then every source's fields."""
    lines = [
        "# Source catalogue",
        "",
        "Generated from `purecredit/ingest/catalog.yaml`; do not edit by hand. Regenerate with",
        "",
        f"    {REGENERATE}",
        "",
        f"Catalogue version {catalog.version}: {len(catalog.sources)} sources. "
        "`purecredit catalog` prints the summary; `purecredit catalog --check DIR` says which "
        "files of a delivery match no source and which sources sent nothing.",
        "",
        "## Sources",
        "",
        *_table(
            ("source", "owner", "mode", "format", "files", "entity", "valid from", "PII fields"),
            [_summary_row(s) for s in _ordered(catalog)],
        ),
        "",
        "## Data items",
        "",
        "One item, one source: the authoritative source's value stands; the others cross-check "
        "it, and disagreements become conflicts.",
        "",
        *_table(("item", "authoritative", "cross-checks"), _item_rows(catalog)),
    ]
    for source in _ordered(catalog):
        lines += ["", *_source_section(source)]
    return "\n".join(lines) + "\n"


def _ordered(catalog: Catalog) -> list[SourceDef]:
    return [catalog.sources[name] for name in sorted(catalog.sources)]


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> list[str]:
    def line(cells: tuple[str, ...]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return [line(header), "| " + " | ".join("---" for _ in header) + " |", *map(line, rows)]


def _code(names: tuple[str, ...] | list[str]) -> str:
    return ", ".join(f"`{n}`" for n in names)


def _format(source: SourceDef) -> str:
    return f"{source.format} {source.encoding}"


def _entity(source: SourceDef) -> str:
    entity = source.entity
    text = f"{entity.type} by {_code(entity.key)}"
    if entity.alternate is not None:
        text += f", else {entity.alternate.type} by {_code(entity.alternate.key)}"
    return text


def _summary_row(source: SourceDef) -> tuple[str, ...]:
    pii = [name for name, f in source.fields.items() if f.pii]
    return (
        f"[{source.name}](#{source.name})",
        source.owner,
        source.mode + (", sensitive" if source.sensitive else ""),
        _format(source),
        f"`{source.files}`",
        _entity(source),
        f"`{source.valid_from}`" if source.valid_from else "when observed",
        _code(pii) or "none",
    )


def _item_rows(catalog: Catalog) -> list[tuple[str, ...]]:
    names = sorted({item for s in catalog.sources.values() for item in s.items})
    rows: list[tuple[str, ...]] = []
    for item in names:
        found = [(s, s.items[item]) for s in _ordered(catalog) if item in s.items]
        authority = [f"{s.name}.`{i.field}`" for s, i in found if i.role == "authoritative"]
        checks = [
            f"{s.name}.`{i.field}`"
            + (f" (entity: {_code(i.entity_fields)})" if i.entity_fields else "")
            for s, i in found
            if i.role == "crosscheck"
        ]
        rows.append((f"`{item}`", ", ".join(authority) or "none", ", ".join(checks) or "none"))
    return rows


def _source_section(source: SourceDef) -> list[str]:
    facts = [
        f"- owner: {source.owner}",
        f"- mode: {source.mode}; format: {_format(source)}; files: `{source.files}`",
        f"- entity: {_entity(source)}; record key: {_code(source.record_key)}",
        "- valid from: "
        + (f"`{source.valid_from}`" if source.valid_from else "the date the bank observed it"),
    ]
    if source.monthly:
        facts.append(
            f"- monthly: a file per month, reaching the bank {source.observed_lag_days} days "
            "after the month ends"
        )
    if source.history:
        facts.append(
            f"- history: its first copy is known from `{source.history.known_from}` plus "
            f"{source.history.lag_days} days (never after delivery)"
        )
    if source.sensitive:
        facts.append("- sensitive personal information (PIPL art. 28)")
    for item, spec in sorted(source.items.items()):
        via = f", entity from {_code(spec.entity_fields)}" if spec.entity_fields else ""
        via += f", read as {spec.map}" if spec.map else ""
        facts.append(f"- item `{item}`: {spec.role}, field `{spec.field}`{via}")
    header = ("field", "header", "type", "required", "PII", "unit", "rule", "description")
    rows: list[tuple[str, ...]] = [
        (
            f"`{name}`",
            f.header,
            f.type,
            "yes" if f.required else "",
            f.pii or "",
            f.unit or "",
            _rule(f),
            f.description,
        )
        for name, f in source.fields.items()
    ]
    return [f"## {source.name}", "", source.description, "", *facts, "", *_table(header, rows)]


def _rule(field: FieldDef) -> str:
    parts = []
    if field.values is not None:
        parts.append("one of " + ", ".join(field.values))
    if field.min is not None:
        parts.append(f">= {_number(field.min)}")
    if field.max is not None:
        parts.append(f"<= {_number(field.max)}")
    if field.pattern is not None:
        parts.append(f"matches `{field.pattern}`")
    return "; ".join(parts)


def _number(value: float | date) -> str:
    if isinstance(value, date):
        return value.isoformat()
    return f"{value:g}"
