"""Versioned documents kept as YAML (lending policy, warning rules): parsed strictly and
validated by frozen pydantic models, with errors that name the file and the line of the key
at fault, so whoever edits a rule file can find the mistake without reading a traceback.

Besides the model's own validation, duplicate keys anywhere are an error: YAML would silently
keep the last one, and a rule edited twice would then mean something nobody wrote.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from purecredit.core.errors import Invalid

M = TypeVar("M", bound=BaseModel)


class At(ValueError):
    """A cross-field problem located below the model that found it (relative `loc`), so the
    loader can name the line of the key at fault rather than of the whole section."""

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc
        self.message = message


def validated_yaml(text: str, name: str, model: type[M], *, what: str) -> M:
    """`text` parsed and validated as `model`; `name` is the file name errors mention and
    `what` the field an `Invalid` names (e.g. "policy")."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise Invalid(f"{name}{where}: not valid YAML: {problem}", field=what) from exc
    if root is None:
        raise Invalid(f"{name}: the {what} is empty", field=what)
    _no_duplicate_keys(root, name, what)
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise Invalid(f"{name} line 1: a {what} is a mapping of sections", field=what)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        loc = tuple(err["loc"])
        msg = str(err["msg"])
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, At):
            loc, msg = loc + cause.loc, cause.message
        more = exc.error_count() - 1
        tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        line = _line_of(root, loc)
        raise Invalid(f"{name} line {line}: {_dotted(loc, what)}: {msg}{tail}", field=what) from exc


def _dotted(loc: Sequence[object], what: str) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or f"({what})"


def _line_of(node: yaml.Node, loc: Sequence[object]) -> int:
    """1-based line of the YAML key (or item) that `loc` points at; as deep as it exists."""
    line = node.start_mark.line
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                    line, node = key.start_mark.line, value
                    break
            else:
                break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if not 0 <= part < len(node.value):
                break
            node = node.value[part]
            line = node.start_mark.line
        else:
            break
    return line + 1


def _no_duplicate_keys(node: yaml.Node, name: str, what: str) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.value in seen:
                    raise Invalid(
                        f"{name} line {key.start_mark.line + 1}: duplicate key {key.value!r} "
                        f"(first at line {seen[key.value]})",
                        field=what,
                    )
                seen[key.value] = key.start_mark.line + 1
            _no_duplicate_keys(value, name, what)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _no_duplicate_keys(item, name, what)
