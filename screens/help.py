"""`?` on any screen: the bindings of the screen below, as a modal list."""

from __future__ import annotations

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static


def key_rows(app: App, bindings: list[Binding]) -> list[tuple[str, str]]:
    """(keys, what they do) of `bindings`, as remapped by keys.toml, with each binding's id
    (what keys.toml names)."""
    keymap: dict[str, str] = getattr(app, "_keymap", None) or {}
    rows = []
    for b in bindings:
        keys = keymap.get(b.id, b.key) if b.id else b.key
        shown = ", ".join(
            app.get_key_display(Binding(k.strip(), b.action)) for k in keys.split(",")
        )
        rows.append((shown, b.description + (f"  ({b.id})" if b.id else "")))
    return rows


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical {
        width: 68; height: auto; max-height: 80%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    HelpScreen DataTable { height: auto; max-height: 20; }
    """
    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close")]

    def __init__(self, title: str, bindings: list[tuple[str, str]], about: str = "") -> None:
        super().__init__()
        self._heading = title
        self._keys = bindings
        self._intro = about

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(f"{self._heading}: keys", style="bold"))
            if self._intro:
                yield Static(Text(self._intro))
            table: DataTable[Text] = DataTable(show_cursor=False, zebra_stripes=True)
            table.add_column("key", width=14)
            table.add_column("does (keys.toml id)", width=46)
            for key, what in self._keys:
                table.add_row(Text(key), Text(what))
            yield table
            yield Static(Text("esc or ? closes", style="dim"))
