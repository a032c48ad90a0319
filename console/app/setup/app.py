"""The setup wizard: the questions (wizard.py) one screen at a time, the profile for review,
then the stages with their output (stages.py), all in the terminal. It adds nothing the
headless `fleetdeck setup --answers` cannot do: it writes the answers it was given beside
the profile (FLEET.answers.toml), and the same answers give the same profile.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path

from pydantic import ValidationError
from rich.text import Text
from textual.app import App

from console.app.setup.answers import Answers
from console.app.setup.rehearsal import fleet_up
from console.app.setup.stages import SETTLE_S, run_stages, stages_for
from console.app.setup.wizard import answers_toml, next_question, previous_key, problem
from console.app.setup.writer import profile_text
from console.core.profile import load
from console.core.secrets import Redactor, parse_ref, resolve
from console.core.stacks import STACKS
from screens.setup import (
    Answered,
    GoBack,
    QuestionScreen,
    Retry,
    ReviewScreen,
    SaveProfile,
    StagesScreen,
)


def interrupt(p: subprocess.Popen) -> None:
    """Ctrl-C for a stage's command (its run is journalled as cancelled), then a kill."""
    if p.poll() is None:
        p.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(timeout=10)
        if p.poll() is None:
            p.kill()


def missing_secrets(profile: Path) -> list[tuple[str, str, str]]:
    """(name, reference, what it protects) of each secret that does not resolve here."""
    model = load(str(profile)).model
    purposes = {n: p for c in model.clusters for n, p in STACKS[model.cluster_stack(c)].secrets}
    out = []
    for name, ref in model.secrets.items():
        try:
            resolve(ref, Redactor())
        except Exception:  # noqa: S112 - unset, no keyring: asked for below
            out.append((name, ref, purposes.get(name, "a secret the profile names")))
    return out


class SetupApp(App[int]):
    TITLE = "fleetdeck setup"

    def __init__(
        self,
        profile: Path | None,
        rehearse: bool,
        rehearsal_dir: Path | None,
        mnemonic_file: Path | None,
    ) -> None:
        super().__init__()
        self.profile = profile  # None until the fleet's name is known
        self.rehearse = rehearse
        self.rehearsal_dir = rehearsal_dir
        self.mnemonic_file = mnemonic_file
        self.state: dict[str, str] = {}
        self.asked = 0
        self.text = ""
        self.process: subprocess.Popen | None = None
        self.stopping = False
        self.exit_code = 0
        self.secrets_left: list[tuple[str, str, str]] = []
        self.stages_screen: StagesScreen | None = None

    def on_mount(self) -> None:
        if self.profile is not None and self.profile.exists():
            self.text = self.profile.read_text()  # resume its stages
            self.start_stages()
        else:
            self.ask()

    # -- the questions
    def ask(self, error: str = "") -> None:
        q = next_question(self.state, self.rehearse)
        if q is None:
            self.review()
            return
        self.asked = len(self.state) + 1
        screen = QuestionScreen(
            self.asked, q.key, q.prompt, q.default, q.help, q.choices, error=error
        )
        self.switch_or_push(screen)

    def switch_or_push(self, screen) -> None:
        if len(self.screen_stack) > 1:
            self.switch_screen(screen)
        else:
            self.push_screen(screen)

    def on_answered(self, message: Answered) -> None:
        if message.key.startswith("secret:"):
            self.store_secret(message.key.removeprefix("secret:"), message.value)
            return
        q = next_question(self.state, self.rehearse)
        said = problem(q, message.value) if q is not None and q.key == message.key else None
        if said:
            self.say_error(said)
            return
        self.state[message.key] = message.value
        self.ask()

    def on_go_back(self, message: GoBack) -> None:
        key = previous_key(self.state, self.rehearse)
        if key is not None:
            del self.state[key]
        self.ask()

    def answers(self) -> Answers:
        import tomllib

        return Answers.model_validate(tomllib.loads(answers_toml(self.state, self.rehearse)))

    def review(self) -> None:
        try:
            a = self.answers()
        except ValidationError as exc:
            # what no single answer shows (answers that do not fit together): the last
            # question asked again, saying why
            key = previous_key(self.state, self.rehearse)
            if key is not None:
                del self.state[key]
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            self.ask(
                error=f"{where + ': ' if where else ''}{first['msg']}".replace("Value error, ", "")
            )
            return
        self.profile = self.profile or Path(f"{a.fleet}.toml")
        self.text = profile_text(a, f"{a.fleet}.answers.toml")
        self.switch_or_push(ReviewScreen(str(self.profile), self.text))

    def on_save_profile(self, message: SaveProfile) -> None:
        assert self.profile is not None
        answers = self.profile.with_name(self.profile.stem + ".answers.toml")
        answers.write_text(answers_toml(self.state, self.rehearse))
        if self.profile.exists() and self.profile.read_text() != self.text:
            self.notify(
                f"{self.profile} exists and differs: not overwritten",
                severity="error",
                markup=False,  # a path is the operator's text, not markup
            )
            return
        self.profile.write_text(self.text)
        if self.rehearse:  # the simulated fleet has secrets of its own
            self.start_stages()
            return
        self.secrets_left = missing_secrets(self.profile)
        self.ask_secret()

    # -- the secrets: into the OS keyring, never into the profile
    def ask_secret(self) -> None:
        if not self.secrets_left:
            self.start_stages()
            return
        name, ref, purpose = self.secrets_left[0]
        if not ref.startswith("keyring:"):
            self.exit_with(
                f"{name} is read from the environment ({ref}): set it, then "
                f"`fleetdeck setup {self.profile}` goes on"
            )
            return
        screen = QuestionScreen(
            0,
            f"secret:{name}",
            f"{name}: {purpose}",
            "",
            f"typed unseen; stored in the OS keyring as {ref.removeprefix('keyring:')}, never "
            "in the profile",
            (),
            secret=True,
        )
        self.switch_or_push(screen)

    def store_secret(self, name: str, value: str) -> None:
        ref = next(r for n, r, _ in self.secrets_left if n == name)
        if not value:
            self.say_error("a secret cannot be empty")
            return
        try:
            import keyring

            parsed = parse_ref(ref)
            keyring.set_password(parsed.service, parsed.name, value)
        except Exception as exc:  # no keyring on this machine (a headless one), or a broken one
            self.say_error(
                f"the keyring refused it ({type(exc).__name__}): on a machine without one, "
                f'make it [secrets] {name} = "env:VARIABLE" in the profile and export it'
            )
            return
        self.secrets_left.pop(0)
        self.ask_secret()

    def say_error(self, text: str) -> None:
        """The question on screen says what is wrong with its answer."""
        if isinstance(self.screen, QuestionScreen):
            self.screen.error(text)

    def exit_with(self, text: str) -> None:
        self.exit(1, message=Text(text))  # printed after the app: plain text, never markup

    # -- the stages
    def start_stages(self) -> None:
        assert self.profile is not None
        model = load(str(self.profile)).model
        resume = f"fleetdeck setup {self.profile}" + (" --rehearse" if self.rehearse else "")
        stages = stages_for(model)
        screen = StagesScreen(model.fleet.name, [(s.name, s.title) for s in stages], resume)
        self.stages_screen = screen  # the stages' output goes there, whatever is above it
        self.switch_or_push(screen)
        self.run_worker(self.work, thread=True, exclusive=True, group="stages")

    def on_retry(self, message: Retry) -> None:
        self.run_worker(self.work, thread=True, exclusive=True, group="stages")

    def work(self) -> None:
        assert self.profile is not None
        screen = self.stages_screen
        assert screen is not None  # start_stages made it

        def say(text: str) -> None:
            if not self.stopping:
                self.call_from_thread(screen.line, text)

        def on_stage(name: str, state: str, note: str) -> None:
            if not self.stopping:
                self.call_from_thread(screen.stage, name, state, note)

        def started(process: subprocess.Popen) -> None:
            self.process = process
            if self.stopping:  # quit came while it was being started
                interrupt(process)

        env = dict(os.environ)
        target = self.profile.resolve()
        mnemonic_file = self.mnemonic_file
        if self.rehearse:
            root = (self.rehearsal_dir or Path(f"{target.stem}-rehearsal")).resolve()
            say(f"rehearsal: a simulated fleet of {self.profile} under {root}/sim")
            try:
                target, env = fleet_up(self.text, root, env)
            except RuntimeError as exc:
                self.call_from_thread(screen.finished, False, f"the simulated fleet: {exc}")
                return
            mnemonic_file = mnemonic_file or root / "mnemonics.txt"
        elif mnemonic_file is None:  # new keys' words go to a file only the owner reads
            mnemonic_file = target.with_name(f"{target.stem}-mnemonics.txt")
        model = load(str(target)).model
        stages = stages_for(model, mnemonic_file if not mnemonic_file.exists() else None)
        failed = run_stages(
            target,
            stages,
            env,
            say,
            model.fleet.name,
            on_stage=on_stage,
            started=started,
            settle_s=SETTLE_S if self.rehearse else 0.0,
            stopped=lambda: self.stopping,
        )
        if self.stopping:
            return
        if failed:
            self.exit_code = 4
            text = f"✗ stopped at {failed}: r runs it again once fixed; q quits (it resumes there)"
            self.call_from_thread(screen.finished, False, text)
        else:
            self.exit_code = 0
            end = f"✓ setup complete: {model.fleet.name} is deployed and verified"
            if self.rehearse:
                end += f" (the simulated fleet stays up: fleetdeck sim down {target.parent})"
            self.call_from_thread(screen.finished, True, end)

    async def action_quit(self) -> None:
        """Quit; a stage under way is interrupted as Ctrl-C would (its run is journalled,
        and the next `fleetdeck setup` resumes it)."""
        self.stopping = True
        if self.process is not None:
            interrupt(self.process)
        self.exit(self.exit_code)
