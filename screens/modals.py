"""Small modal dialogs: an unknown host key to accept or refuse, the demo's fault menu, and
the sort menu."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

MODAL_CSS = """
{name} {{ align: center middle; }}
{name} > Vertical {{
    width: 84; max-width: 100%; height: auto; max-height: 80%; border: round $warning;
    background: $surface; padding: 0 1;
}}
{name} OptionList {{ height: auto; max-height: 20; }}
"""


class HostKeyScreen(ModalScreen[bool]):
    """Unknown host: show the fingerprint; the operator accepts (a) or refuses (r, esc)."""

    DEFAULT_CSS = MODAL_CSS.format(name="HostKeyScreen")
    BINDINGS = [
        Binding("a", "answer(True)", "Accept and remember"),
        Binding("r,escape", "answer(False)", "Refuse"),
    ]

    def __init__(self, node: str, host: str, key_type: str, fingerprint: str) -> None:
        super().__init__()
        self.details = (node, host, key_type, fingerprint)

    def compose(self) -> ComposeResult:
        node, host, key_type, fingerprint = self.details
        text = Text()
        text.append("Unknown host key\n\n", style="bold")
        text.append("node         ")
        text.append(node, style="bold")
        text.append("\nhost         ")
        text.append(host)
        text.append(f"\nkey          {key_type}\nfingerprint  ")
        text.append(fingerprint, style="bold yellow")
        text.append(
            "\n\nCompare it with the host's own (ssh-keygen -lf on its console) before accepting.\n"
        )
        text.append("a", style="bold")
        text.append(" accept and remember   ")
        text.append("r", style="bold")
        text.append(" refuse", style="")
        with Vertical():
            yield Static(text)

    def action_answer(self, accept: bool) -> None:
        self.dismiss(accept)


class FaultMenuScreen(ModalScreen[str | None]):
    """The demo's fault menu for one node: a fault kind to inject, or clear them all."""

    DEFAULT_CSS = MODAL_CSS.format(name="FaultMenuScreen")
    BINDINGS = [Binding("escape", "dismiss(None)", "Close")]

    def __init__(self, node: str, faults: dict[str, str]) -> None:
        super().__init__()
        self.node = node
        self.faults = faults

    def compose(self) -> ComposeResult:
        title = Text("Rehearse an incident on ", style="bold")
        title.append(self.node, style="bold yellow")
        options = [
            Option(Text(f"{kind:<15} {text}"), id=kind) for kind, text in self.faults.items()
        ]
        options.append(Option(Text("clear           clear every fault of this node"), id="clear"))
        with Vertical():
            yield Static(title)
            yield OptionList(*options, id="faults")
            yield Static(Text("enter injects · esc closes", style="dim"))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)


class QuitScreen(ModalScreen[bool]):
    """q while something would be lost asks first: y quits, n or esc stays."""

    DEFAULT_CSS = MODAL_CSS.format(name="QuitScreen")
    BINDINGS = [
        Binding("y", "dismiss(True)", "Quit"),
        Binding("n,escape", "dismiss(False)", "Stay"),
    ]

    def __init__(self, why: str) -> None:
        super().__init__()
        self.why = why

    def compose(self) -> ComposeResult:
        text = Text("Quit fleetdeck?\n\n", style="bold")
        text.append(self.why)
        text.append("\n\ny quits, n or esc stays.")
        with Vertical():
            yield Static(text)


class SortScreen(ModalScreen[str | None]):
    """The columns to sort a table by; Enter picks one (the current one again: reversed)."""

    DEFAULT_CSS = MODAL_CSS.format(name="SortScreen")
    BINDINGS = [Binding("escape", "dismiss(None)", "Close")]

    def __init__(self, columns: list[tuple[str, str]], current: str | None) -> None:
        super().__init__()
        self.columns = columns
        self.current = current

    def compose(self) -> ComposeResult:
        options = [
            Option(Text(title + ("  (now: enter reverses)" if key == self.current else "")), id=key)
            for key, title in self.columns
        ]
        with Vertical():
            yield Static(Text("Sort nodes by", style="bold"))
            yield OptionList(*options, id="sort-columns")
            yield Static(Text("enter sorts · esc closes", style="dim"))

    def on_mount(self) -> None:
        keys = [key for key, _ in self.columns]
        self.query_one(OptionList).highlighted = (
            keys.index(self.current) if self.current in keys else 0
        )

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)
