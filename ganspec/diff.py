"""Semantic diff of two resolved specs: which hyperparameters changed, by path.

    diff(a, b) -> [Edit("changed", "optimizer.critic.lr", 1e-4, 5e-5), ...]

Works on `model_dump()` trees, so inheritance and defaults are already expanded and
numbers compare by value (`2e-4 == 0.0002`). Layer stacks are aligned with a
sequence matcher on layer kinds, so inserting one layer shows as one insertion.
A component whose kind changes (adam -> rmsprop) is one change, not a field list.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Edit:
    op: str  # changed | added | removed
    path: str
    old: Any = None
    new: Any = None

    def to_json(self) -> dict:
        return {"op": self.op, "path": self.path, "old": self.old, "new": self.new}


METADATA = {"name", "description", "tags"}


def diff_specs(a, b, metadata: bool = False) -> list[Edit]:
    """Differences from spec `a` to spec `b`; name, description and tags only if `metadata`."""
    exclude = {"name"} if metadata else METADATA
    da = a.model_dump(mode="json", exclude=exclude)
    db = b.model_dump(mode="json", exclude=exclude)
    return diff_trees(da, db)


def diff_trees(a: Any, b: Any, path: str = "") -> list[Edit]:
    if isinstance(a, dict) and isinstance(b, dict):
        if "kind" in a and "kind" in b and a["kind"] != b["kind"]:
            return [Edit("changed", path, summarize(a), summarize(b))]
        edits = []
        for key in list(a) + [k for k in b if k not in a]:
            sub = f"{path}.{key}" if path else key
            if key not in b:
                edits.append(Edit("removed", sub, a[key], None))
            elif key not in a:
                edits.append(Edit("added", sub, None, b[key]))
            else:
                edits.extend(diff_trees(a[key], b[key], sub))
        return edits
    if isinstance(a, list) and isinstance(b, list):
        if path.endswith("layers") or all(isinstance(x, dict) and "kind" in x for x in a + b):
            return _diff_sequence(a, b, path)
        if len(a) == len(b):
            edits = []
            for i, (x, y) in enumerate(zip(a, b)):
                edits.extend(diff_trees(x, y, f"{path}[{i}]"))
            return edits
        return [] if a == b else [Edit("changed", path, a, b)]
    if a is None and b is not None:
        return [Edit("added", path, None, b if not isinstance(b, dict) else summarize(b))]
    if b is None and a is not None:
        return [Edit("removed", path, a if not isinstance(a, dict) else summarize(a), None)]
    if _same(a, b):
        return []
    return [Edit("changed", path, a, b)]


def _same(a, b) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0) or a == b
    return a == b


def _diff_sequence(a: list, b: list, path: str) -> list[Edit]:
    keys_a = [_key(x) for x in a]
    keys_b = [_key(x) for x in b]
    edits: list[Edit] = []
    matcher = difflib.SequenceMatcher(a=keys_a, b=keys_b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            for i, j in zip(range(i1, i2), range(j1, j2)):
                edits.extend(diff_trees(a[i], b[j], f"{path}[{j}]"))
        elif op == "replace" and (i2 - i1) == (j2 - j1):
            for i, j in zip(range(i1, i2), range(j1, j2)):
                edits.extend(diff_trees(a[i], b[j], f"{path}[{j}]"))
        else:
            for i in range(i1, i2):
                edits.append(Edit("removed", f"{path}[{i}]", summarize(a[i]), None))
            for j in range(j1, j2):
                edits.append(Edit("added", f"{path}[{j}]", None, summarize(b[j])))
    return edits


def _key(item):
    return item.get("kind") if isinstance(item, dict) else repr(item)


def summarize(value: Any) -> Any:
    """A component as short .gan text with its non-default values: `adam(lr: 0.0001, beta1: 0)`."""
    if isinstance(value, dict) and "kind" in value:
        from ganspec.ir.components import component_text

        text = component_text(value)
        if text is not None:
            return text
        parts = []
        for key, val in value.items():
            if key == "kind":
                continue
            if key == "layers":
                parts.append(f"{{{len(val)} layers}}")
            else:
                parts.append(f"{key}={_text(val)}")
        return f"{value['kind']}({', '.join(parts)})" if parts else value["kind"]
    return value


def _text(value):
    if isinstance(value, dict):
        return summarize(value)
    if isinstance(value, list):
        return "[" + ", ".join(str(_text(v)) for v in value) + "]"
    return value
