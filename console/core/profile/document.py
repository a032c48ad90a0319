"""The editable profile: the tomlkit document is the source of truth, so an edit keeps
every comment and untouched line of the operator's file; the pydantic model is a validated
view of it, and an edit that does not validate is not kept."""

from __future__ import annotations

import os
from typing import Any

import tomlkit
import tomlkit.exceptions
from tomlkit.items import AoT, Table

from console.core.atomic import atomic_write_text
from console.core.profile.problems import PathT, Problem, ProfileError
from console.core.profile.schema import NOT_READ_YET, Cluster, FleetProfile, Node
from console.core.profile.validate import parse_toml, validate
from console.core.tomlpos import format_path, locate


def _inline(values: dict) -> tomlkit.items.InlineTable:
    """labels = { pool = "…" } on the node's own line, not a [clusters.nodes.labels] table."""
    table = tomlkit.inline_table()
    table.update(values)
    return table


class Profile:
    """A loaded profile: the tomlkit document (kept for saving) and its validated model.

    Every edit goes through the document and is validated before it is kept; a rejected
    edit leaves the profile as it was and raises ProfileError.
    """

    def __init__(self, file: str, doc: tomlkit.TOMLDocument, model: FleetProfile) -> None:
        self.file = file
        self.doc = doc
        self.model = model

    # -- reading
    def text(self) -> str:
        return self.doc.as_string()

    def unused_settings(self) -> list[str]:
        """Settings the profile sets that nothing reads yet, each named with where it will
        be read: accepted (profiles stay valid), but never silently."""
        out = []
        tables = [("[stack]", self.model.stack)] + [
            (f"[clusters.settings] of {c.name}", c.settings)
            for c in self.model.clusters
            if c.settings is not None
        ]
        for where, settings in tables:
            for key in sorted(settings.model_fields_set & NOT_READ_YET.keys()):
                out.append(f"{where} {key} is not used yet: {NOT_READ_YET[key]}")
        return out

    def renamed_settings(self) -> list[str]:
        """Settings written by an old name, each with its new one (both load)."""
        from console.core.profile.names import renamed  # noqa: PLC0415

        return [
            f"{format_path(path)} is now {new} ({old} still loads)"
            for path, old, new in renamed(self.doc.unwrap())
        ]

    def locate_node(self, name: str) -> tuple[int, int]:
        for ci, cluster in enumerate(self.model.clusters):
            for ni, node in enumerate(cluster.nodes):
                if node.name == name:
                    return ci, ni
        raise KeyError(f"no node named {name!r} in {self.file}")

    def cluster(self, name: str) -> tuple[int, Cluster]:
        for ci, cluster in enumerate(self.model.clusters):
            if cluster.name == name:
                return ci, cluster
        raise KeyError(f"no cluster named {name!r} in {self.file}")

    def node(self, name: str) -> Node:
        ci, ni = self.locate_node(name)
        return self.model.clusters[ci].nodes[ni]

    # -- editing
    def _commit(self, text: str) -> None:
        doc = parse_toml(text, self.file)
        self.model = validate(doc, text, self.file)
        self.doc = doc

    def _edit(self, change) -> None:
        """Apply `change(doc)` on a copy; keep it only if the result validates."""
        doc = tomlkit.parse(self.text())
        change(doc)
        self._commit(doc.as_string())

    def set_value(self, path: PathT, value: Any) -> None:
        """Set any value by path, e.g. ("ssh", "parallelism") or ("clusters", 0, "name")."""

        def change(doc: tomlkit.TOMLDocument) -> None:
            container: Any = doc
            for part in path[:-1]:
                if isinstance(part, str) and part not in container:
                    container[part] = tomlkit.table()
                container = container[part]
            container[path[-1]] = value

        self._edit(change)

    def set_node_field(self, name: str, field: str, value: Any) -> None:
        ci, ni = self.locate_node(name)
        self.set_value(("clusters", ci, "nodes", ni, field), value)

    def add_node(self, cluster: str, before: str | None = None, **fields: Any) -> None:
        """Add a node to `cluster`: last, or just before its node named `before`."""
        ci, _ = self.cluster(cluster)
        at = self.locate_node(before)[1] if before else None

        def change(doc: tomlkit.TOMLDocument) -> None:
            if "nodes" not in doc["clusters"][ci]:  # a cluster a pool is still filling
                doc["clusters"][ci]["nodes"] = tomlkit.aot()
            nodes = doc["clusters"][ci]["nodes"]
            if isinstance(nodes, AoT):
                table = tomlkit.table()
                for k, v in fields.items():
                    table[k] = _inline(v) if isinstance(v, dict) else v
                last = nodes[-1] if len(nodes) else None
                if isinstance(last, Table) and not last.as_string().endswith("\n\n"):
                    last.add(tomlkit.nl())  # a blank line between node tables, as written
                table.add(tomlkit.nl())  # and before whatever table follows
                nodes.append(table) if at is None else nodes.insert(at, table)
            else:
                inline = tomlkit.inline_table()
                inline.update(fields)
                nodes.append(inline) if at is None else nodes.insert(at, inline)

        self._edit(change)

    def remove_node(self, name: str) -> None:
        """Remove a node with its own lines and the comment block right above it.

        tomlkit attaches the comment lines that precede a `[[clusters.nodes]]` header to the
        table before it, so deleting through tomlkit would take the next node's comment
        away and leave the removed node's comment behind. The lines are cut from the text.
        """
        ci, ni = self.locate_node(name)
        pools = self.model.provision.pools if self.model.provision else []
        filled_by_pool = any(p.cluster == self.model.clusters[ci].name for p in pools)
        if len(self.model.clusters[ci].nodes) == 1 and not filled_by_pool:
            raise ProfileError(
                [
                    Problem(
                        self.file,
                        f"node {name!r} is the only node of "
                        f"cluster {self.model.clusters[ci].name!r}",
                        fix="remove the cluster instead",
                    )
                ]
            )
        nodes = self.doc["clusters"][ci]["nodes"]
        if not isinstance(nodes, AoT):
            self._edit(lambda doc: doc["clusters"][ci]["nodes"].pop(ni))
            return
        text = self.text()
        lines = text.splitlines(keepends=True)
        start = locate(text)[("clusters", ci, "nodes", ni)] - 1  # header, 0-based
        end = start + 1
        # its own sub-tables ([clusters.nodes.labels]) go with it
        while end < len(lines) and (
            not lines[end].lstrip().startswith("[")
            or lines[end].lstrip().startswith("[clusters.nodes.")
        ):
            end += 1
        # the comment block and blank lines just above the next header belong to it
        while end > start + 1 and (
            not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")
        ):
            end -= 1
        while start > 0 and lines[start - 1].lstrip().startswith("#"):
            start -= 1
        # one blank separator goes with the node, so the spacing around it stays as it was
        if (
            end < len(lines)
            and not lines[end].strip()
            and (start == 0 or not lines[start - 1].strip())
        ):
            end += 1
        self._commit("".join(lines[:start] + lines[end:]))

    # -- saving
    def save(self, path: str | os.PathLike[str] | None = None) -> None:
        atomic_write_text(path or self.file, self.text())
