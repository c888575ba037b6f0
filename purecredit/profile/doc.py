"""The feature reference (`docs/features.md`), generated from the registry so it never drifts
from what the profile computes; a test fails when page and registry differ."""

from __future__ import annotations

from collections.abc import Sequence

from purecredit.profile.feature import Module
from purecredit.profile.features import ENTERPRISE_MODULES, PERSON_MODULES

REGENERATE = (
    'python -c "from purecredit.profile.doc import features_markdown as m; '
    "open('docs/features.md', 'w', encoding='utf-8').write(m())\""
)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _modules(title: str, modules: Sequence[Module]) -> list[str]:
    lines = [f"## {title}", ""]
    for module in modules:
        lines += [
            f"### {module.title} (`{module.name}`)",
            "",
            "| feature | type | unit | description | rule | sources | missing means |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for f in module.features:
            sources = ", ".join(f"`{s}`" for s in f.sources)
            lines.append(
                f"| `{f.name}` | {f.dtype} | {f.unit or ''} | {_cell(f.description)} | "
                f"{_cell(f.rule)} | {sources} | {_cell(f.missing)} |"
            )
        lines.append("")
    return lines


def features_markdown() -> str:
    person = sum(len(m.features) for m in PERSON_MODULES)
    firm = sum(len(m.features) for m in ENTERPRISE_MODULES)
    lines = [
        "# Feature reference",
        "",
        "Generated from `purecredit/profile/features/`; do not edit by hand. Regenerate with",
        "",
        f"    {REGENERATE}",
        "",
        f"{person} person features in {len(PERSON_MODULES)} modules, {firm} enterprise features "
        f"in {len(ENTERPRISE_MODULES)} modules. Every feature is computed as of a date from what "
        "the bank knew by the end of that day (docs/profile.md). A missing value (NULL) is not "
        "zero: the last column says what it means.",
        "",
        *_modules("Person", PERSON_MODULES),
        *_modules("Enterprise", ENTERPRISE_MODULES),
    ]
    return "\n".join(lines).rstrip() + "\n"
