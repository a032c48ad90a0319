"""The setup wizard's screens: one question at a time, the profile it writes for review,
and the stages as they run. They show what the setup app (console/app/setup/app.py) hands
them and send it messages; they run nothing themselves. Every text shown is plain text
(a host's or a tool's words are never read as markup)."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, RichLog, Static

from screens.help import HelpScreen, key_rows


@dataclass
class Answered(Message):
    key: str
    value: str


class GoBack(Message):
    pass


class SaveProfile(Message):
    pass


class Retry(Message):
    pass


class QuestionScreen(Screen[None]):
    """A question, its default typed in already: enter takes it, esc goes back."""

    BINDINGS = [
        Binding("escape", "back", "Back", id="back"),
        Binding("f1", "help", "Help", id="help"),
        Binding("ctrl+q", "app.quit", "Quit", id="quit"),
    ]
    DEFAULT_CSS = """
    QuestionScreen > Static { padding: 0 1; }
    QuestionScreen #q-title { background: $boost; }
    QuestionScreen #q-prompt { padding: 1 1 0 1; text-style: bold; }
    QuestionScreen #q-error { color: $error; }
    QuestionScreen Input { margin: 0 1; }
    """

    def __init__(
        self,
        number: int,
        key: str,
        prompt: str,
        default: str,
        help_text: str,
        choices: tuple,
        secret: bool = False,  # typed unseen, never shown back
        error: str = "",  # what was wrong with the answer given before
    ) -> None:
        super().__init__()
        self.number, self.key, self.prompt = number, key, prompt
        self.default, self.help_text, self.choices = default, help_text, choices
        self.secret = secret
        self.first_error = error

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(Text(f"fleetdeck setup · question {self.number}", style="bold"), id="q-title")
        yield Static(Text(self.prompt), id="q-prompt")
        hint = self.help_text
        if self.choices:
            hint = f"one of: {', '.join(self.choices)}" + (f" ({hint})" if hint else "")
        yield Static(Text(hint, style="dim"), id="q-help")
        yield Input(value=self.default, password=self.secret, id="q-input")
        yield Static(Text(self.first_error), id="q-error")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        value = event.value.strip()
        if self.choices and value not in self.choices:
            self.error(f"{value!r} is not one of: {', '.join(self.choices)}")
            return
        self.post_message(Answered(self.key, value))

    def error(self, text: str) -> None:
        self.query_one("#q-error", Static).update(Text(text))

    def action_back(self) -> None:
        self.post_message(GoBack())

    def action_help(self) -> None:
        about = (
            "Each question has its answer typed in already: enter takes it, or type another. "
            "Esc goes back to the question before. Nothing is written until the profile is "
            "shown and you save it."
        )
        self.app.push_screen(HelpScreen("Setup", key_rows(self.app, self.BINDINGS), about))


class ReviewScreen(Screen[None]):
    """The profile the answers write, before it is saved."""

    BINDINGS = [
        Binding("y", "save", "Save and run the stages", id="save"),
        Binding("escape", "back", "Change answers", id="back"),
        Binding("f1", "help", "Help", id="help"),
        Binding("ctrl+q", "app.quit", "Quit", id="quit"),
    ]
    DEFAULT_CSS = """
    ReviewScreen #r-title { padding: 0 1; background: $boost; }
    ReviewScreen VerticalScroll { height: 1fr; padding: 0 1; }
    """

    def __init__(self, path: str, text: str) -> None:
        super().__init__()
        self.path, self.text = path, text

    def compose(self) -> ComposeResult:
        yield Header()
        title = Text("The profile, to be saved as ", style="bold")
        title.append(self.path, style="bold yellow")
        title.append("   y: save and go on · esc: change an answer", style="dim")
        yield Static(title, id="r-title")
        with VerticalScroll():
            yield Static(Text(self.text), id="r-profile")
        yield Footer()

    def action_save(self) -> None:
        self.post_message(SaveProfile())

    def action_back(self) -> None:
        self.post_message(GoBack())

    def action_help(self) -> None:
        about = (
            "This is the whole profile, as it will be written. Secrets are references to the "
            "OS keyring, never values. After saving, the stages run one by one."
        )
        self.app.push_screen(HelpScreen("Review", key_rows(self.app, self.BINDINGS), about))


MARK = {"pending": ("·", "dim"), "running": ("»", "bold"), "done": ("✓", "green")}
MARK |= {"failed": ("✗", "bold red"), "skipped": ("✓", "green")}


class StagesScreen(Screen[None]):
    """Each stage with its state, and the output of the one running."""

    BINDINGS = [
        Binding("r", "retry", "Retry", id="retry"),
        Binding("f1", "help", "Help", id="help"),
        Binding("q", "app.quit", "Quit (resume later)", id="quit"),
    ]
    DEFAULT_CSS = """
    StagesScreen #s-title { padding: 0 1; background: $boost; }
    StagesScreen #s-stages { padding: 0 1; height: auto; }
    StagesScreen #s-end { padding: 0 1; height: auto; }
    StagesScreen RichLog { height: 1fr; border: round $accent; }
    """

    def __init__(self, fleet: str, stages: list[tuple[str, str]], resume: str) -> None:
        super().__init__()
        self.fleet = fleet
        self.stages = {name: [title, "pending", ""] for name, title in stages}
        self.resume = resume
        self.failed = False

    def compose(self) -> ComposeResult:
        yield Header()
        title = Text("Setting up ", style="bold")
        title.append(self.fleet, style="bold yellow")
        title.append(f"   q: quit, and `{self.resume}` resumes", style="dim")
        yield Static(title, id="s-title")
        yield Static(self._stages_text(), id="s-stages")
        yield RichLog(id="s-log", markup=False, wrap=True, max_lines=5000)
        yield Static(Text(""), id="s-end")
        yield Footer()

    def _stages_text(self) -> Text:
        out = Text()
        for i, (title, state, note) in enumerate(self.stages.values(), start=1):
            mark, style = MARK.get(state, ("?", ""))
            out.append(f"{mark} {i}. {title}", style=style)
            if note:
                out.append(f"  {note}", style="dim")
            out.append("\n")
        return out

    def stage(self, name: str, state: str, note: str = "") -> None:
        if name in self.stages:
            self.stages[name][1:] = [state, note]
            self.query_one("#s-stages", Static).update(self._stages_text())

    def line(self, text: str) -> None:
        self.query_one(RichLog).write(Text(text))

    def finished(self, ok: bool, text: str) -> None:
        self.failed = not ok
        style = "bold green" if ok else "bold red"
        self.query_one("#s-end", Static).update(Text(text, style=style))

    def action_retry(self) -> None:
        if self.failed:
            self.failed = False
            self.query_one("#s-end", Static).update(Text(""))
            self.post_message(Retry())

    def action_help(self) -> None:
        about = (
            "Each stage is the fleetdeck command an operator would run (plan, then run), its "
            "output below. A stage already done is shown done. After a failure, r runs it "
            f"again; q quits, and `{self.resume}` goes on from the stage that stopped."
        )
        self.app.push_screen(HelpScreen("Stages", key_rows(self.app, self.BINDINGS), about))
