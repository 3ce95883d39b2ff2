"""Read YAML into plain Python values while remembering the line of every value.

PyYAML's ``safe_load`` silently keeps the last of two duplicate keys and forgets where values
came from. This module composes the node graph itself, builds dicts, lists and scalars from it,
rejects duplicate keys, bounds size, depth and alias expansion (no "billion laughs"), and returns
a map from each value's path, such as ``("caches", "hub", "upstreams", 0)``, to its line number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from provisioner.errors import ProfileError

Path_ = tuple[str | int, ...]

MAX_BYTES = 1_000_000
MAX_DEPTH = 64
MAX_NODES = 100_000
MERGE_TAG = "tag:yaml.org,2002:merge"
# What PyYAML's reader counts as a line break (its marks are the line numbers reported).
_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
# Plain data only: no !!python/..., !!binary, !!set or custom tags in a profile.
ALLOWED_TAGS = frozenset(
    f"tag:yaml.org,2002:{t}"
    for t in ("str", "int", "float", "bool", "null", "seq", "map", "merge", "timestamp")
)


@dataclass
class YamlDocument:
    """The values of one YAML document and where each came from."""

    data: Any
    source: str
    lines: dict[Path_, int] = field(default_factory=dict)

    def line_of(self, path: Path_) -> int:
        """The line of ``path``, or of its nearest ancestor that has one (1 for the root)."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:end]))
            if line is not None:
                return line
        return 1

    def where(self, path: Path_) -> str:
        return f"{self.source}:{self.line_of(path)}"


def parse_yaml(text: str, source: str) -> YamlDocument:
    """Parse one YAML document. Raises :class:`ProfileError` naming ``source:line``."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise ProfileError(
            f"file is larger than {MAX_BYTES // 1000} kB; a profile is far smaller", f"{source}:1"
        )
    if not text.strip():
        raise ProfileError(
            "file is empty; expected a mapping starting with 'version: 1'", f"{source}:1"
        )
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        problem = exc.problem or exc.context or "invalid YAML"
        raise ProfileError(f"not valid YAML: {problem}", f"{source}:{line}") from None
    except yaml.reader.ReaderError as exc:
        # Its str() spans two lines; rebuild one from the parts (the line from the position).
        line = len(_LINE_BREAK.findall(text[: exc.position])) + 1
        raise ProfileError(
            f"not valid YAML: character #x{exc.character:04x} is not allowed ({exc.reason})",
            f"{source}:{line}",
        ) from None
    except yaml.YAMLError as exc:
        raise ProfileError(f"not valid YAML: {exc}", f"{source}:1") from None
    except RecursionError:
        raise ProfileError(f"YAML nested deeper than {MAX_DEPTH} levels", f"{source}:1") from None
    if node is None:
        raise ProfileError(
            "file holds no YAML document; expected 'version: 1' and more", f"{source}:1"
        )
    builder = _Builder(source)
    doc = YamlDocument(data=None, source=source)
    doc.data = builder.build(node, (), doc.lines, 0)
    return doc


class _Builder:
    """Turns composed nodes into values, counting nodes so alias bombs stop early."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.count = 0
        self.scalars = yaml.SafeLoader("")

    def fail(self, message: str, node: Node) -> ProfileError:
        return ProfileError(message, f"{self.source}:{node.start_mark.line + 1}")

    def build(self, node: Node, path: Path_, lines: dict[Path_, int], depth: int) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise self.fail(f"more than {MAX_NODES} YAML values (an alias bomb?)", node)
        if depth > MAX_DEPTH:
            raise self.fail(f"YAML nested deeper than {MAX_DEPTH} levels", node)
        lines.setdefault(path, node.start_mark.line + 1)
        if node.tag not in ALLOWED_TAGS:
            raise self.fail(f"YAML tag {node.tag} is not allowed in a profile", node)
        if isinstance(node, ScalarNode):
            if node.tag == TIMESTAMP_TAG:
                return node.value  # keep dates as written (e.g. compatibility_date)
            try:
                return self.scalars.construct_object(node)
            except yaml.YAMLError as exc:
                raise self.fail(f"bad scalar: {getattr(exc, 'problem', exc)}", node) from None
        if isinstance(node, SequenceNode):
            return [
                self.build(item, (*path, i), lines, depth + 1) for i, item in enumerate(node.value)
            ]
        if isinstance(node, MappingNode):
            return self._mapping(node, path, lines, depth)
        raise self.fail(f"unsupported YAML node {node.tag}", node)

    def _mapping(
        self, node: MappingNode, path: Path_, lines: dict[Path_, int], depth: int
    ) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        merged: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == MERGE_TAG:
                value = self.build(value_node, path, {}, depth + 1)
                sources = value if isinstance(value, list) else [value]
                for source in sources:
                    if not isinstance(source, dict):
                        raise self.fail("'<<' merges only mappings", value_node)
                    for k, v in source.items():
                        merged.setdefault(k, v)
                continue
            if not isinstance(key_node, ScalarNode):
                raise self.fail(
                    "a mapping key must be a plain value, not a list or mapping", key_node
                )
            key = self.scalars.construct_object(key_node)
            if isinstance(key, bool) or key is None:
                raise self.fail(
                    f"mapping key {key_node.value!r} is read as {key!r}; quote it", key_node
                )
            if not isinstance(key, str | int):
                raise self.fail(f"mapping key {key_node.value!r} must be a string", key_node)
            if key in result:
                first = lines.get((*path, key), "?")
                raise self.fail(f"duplicate key {key!r} (first defined on line {first})", key_node)
            lines[(*path, key)] = key_node.start_mark.line + 1
            result[key] = self.build(value_node, (*path, key), lines, depth + 1)
        for k, v in merged.items():
            result.setdefault(k, v)
        return result
