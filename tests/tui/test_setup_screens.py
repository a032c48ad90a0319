"""The setup wizard's screens: a question (a choice outside its list refused, in words),
the profile under review, and the stages with their output, shown literally (a tool's
output is never read as markup). SVG snapshots keep them from regressing."""

from __future__ import annotations

from textual.app import App

from console.app.setup.answers import Answers
from console.app.setup.writer import profile_text
from screens.setup import Answered, QuestionScreen, ReviewScreen, StagesScreen

STAGES = [
    ("keys", "make the account keys"),
    ("preflight", "preflight (with fixes)"),
    ("deploy", "deploy"),
    ("register", "register each cluster"),
    ("verify", "verify (the doctor's checks)"),
]
ANSWERS = Answers.model_validate(
    {
        "fleet": "first-fleet",
        "stack": "gonka",
        "clusters": [
            {
                "name": "c1",
                "roles": {"network": 1, "ml": 1},
                "hosts": ["192.0.2.10", "192.0.2.11"],
                "gpus": 8,
                "gpu_type": "H100",
                "model": "Qwen/Qwen3-32B-FP8",
            }
        ],
    }
)


class Host(App[None]):
    def __init__(self, screen) -> None:
        super().__init__()
        self.start = screen
        self.answered: list[Answered] = []

    def on_mount(self) -> None:
        self.push_screen(self.start)

    def on_answered(self, message: Answered) -> None:
        self.answered.append(message)


def question() -> QuestionScreen:
    return QuestionScreen(2, "stack", "What it runs", "gonka", "", ("gonka", "ollama", "vllm"))


def stages() -> StagesScreen:
    screen = StagesScreen("first-fleet", STAGES, "fleetdeck setup first-fleet.toml --rehearse")
    return screen


async def test_a_choice_outside_the_list_is_refused_in_words():
    app = Host(question())
    async with app.run_test(size=(100, 20)) as pilot:
        await pilot.pause()
        await pilot.press("backspace", *"[b]k8s", "enter")  # the default was selected
        await pilot.pause()
        assert app.answered == []
        said = str(app.screen.query_one("#q-error").render())
        assert "'[b]k8s' is not one of: gonka, ollama, vllm" in said
        await pilot.press("end", "ctrl+u", *"ollama", "enter")
        await pilot.pause()
        assert [(m.key, m.value) for m in app.answered] == [("stack", "ollama")]


async def test_stage_output_is_shown_literally():
    screen = stages()
    app = Host(screen)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        screen.stage("keys", "skipped", "done already")
        screen.stage("preflight", "failed", "exit 4")
        screen.line("c1-ml1 disk  | [bold]26 GB[/bold] free [@click=app.quit]x[/]")
        screen.finished(False, "✗ stopped at preflight: r runs it again once fixed")
        await pilot.pause()
        lines = [str(s) for s in screen.query_one("RichLog").lines]
        assert any("[bold]26 GB[/bold] free [@click=app.quit]x[/]" in s for s in lines)
        stages_shown = str(screen.query_one("#s-stages").render())
        assert "✓ 1. make the account keys  done already" in stages_shown
        assert "✗ 2. preflight (with fixes)  exit 4" in stages_shown


def test_snapshot_question_100x20(snap_compare):
    assert snap_compare(Host(question()), terminal_size=(100, 20))


def test_snapshot_review_100x30(snap_compare):
    screen = ReviewScreen("first-fleet.toml", profile_text(ANSWERS, "first-fleet.answers.toml"))
    assert snap_compare(Host(screen), terminal_size=(100, 30))


def test_snapshot_stages_100x30(snap_compare):
    async def run_before(pilot) -> None:
        screen = pilot.app.screen
        screen.stage("keys", "skipped", "done already")
        screen.stage("preflight", "done")
        screen.stage("deploy", "running")
        for line in ("── stage 3/5: deploy (30 steps to do)", "c1-net preflight ✓ passed"):
            screen.line(line)

    assert snap_compare(Host(stages()), terminal_size=(100, 30), run_before=run_before)


async def test_the_wizard_stores_each_secret_in_the_keyring_never_the_profile(
    tmp_path, monkeypatch
):
    import json

    import keyring

    from console.app.setup.app import SetupApp
    from tests.harness.keyring_file import FileKeyring

    store = tmp_path / "keyring.json"
    monkeypatch.setenv("FLEETDECK_TEST_KEYRING", str(store))
    previous = keyring.get_keyring()
    keyring.set_keyring(FileKeyring())
    started: list[bool] = []
    # the stages would reach the answers' (documentation) addresses: stopped short here
    monkeypatch.setattr(SetupApp, "start_stages", lambda self: started.append(True))
    app = SetupApp(tmp_path / "first-fleet.toml", False, None, None)
    app.state = {
        "fleet": "first-fleet", "stack": "gonka", "ssh_user": "ubuntu",
        "ssh_key": "~/.ssh/id_ed25519", "clusters": "1", "c1.name": "c1", "c1.ml": "1",
        "c1.hosts": "192.0.2.10 192.0.2.11", "c1.gpus": "8", "c1.gpu_type": "H100",
        "c1.model": "Qwen/Qwen3-32B-FP8", "https": "n",
    }  # fmt: skip
    try:
        async with app.run_test(size=(100, 24)) as pilot:
            await pilot.pause()
            assert type(app.screen).__name__ == "ReviewScreen"
            await pilot.press("y")
            await pilot.pause()
            assert "keyring_password" in str(app.screen.query_one("#q-prompt").render())
            await pilot.press("enter")  # nothing typed: refused
            await pilot.pause()
            assert "cannot be empty" in str(app.screen.query_one("#q-error").render())
            await pilot.press(*"warm-Secret-1", "enter")
            await pilot.pause()
            assert "account_keyring_password" in str(app.screen.query_one("#q-prompt").render())
            assert "warm-Secret-1" not in str(app.screen.query_one("#q-input").render())
            await pilot.press(*"cold-Secret-2", "enter")
            await pilot.pause()
            assert started == [True]
    finally:
        keyring.set_keyring(previous)
    stored = json.loads(store.read_text())
    assert stored == {
        "fleetdeck/first-fleet-keyring-password": "warm-Secret-1",
        "fleetdeck/first-fleet-account-keyring-password": "cold-Secret-2",
    }
    written = (tmp_path / "first-fleet.toml").read_text()
    assert "-Secret-" not in written and "first-fleet-account-keyring-password" in written
    assert "-Secret-" not in (tmp_path / "first-fleet.answers.toml").read_text()


async def test_a_wrong_answer_is_refused_in_words_where_it_is_typed(tmp_path):
    from console.app.setup.app import SetupApp

    app = SetupApp(tmp_path / "x.toml", False, None, None)
    async with app.run_test(size=(100, 20)) as pilot:
        await pilot.pause()
        await pilot.press("backspace", *"my fleet", "enter")
        await pilot.pause()
        said = str(app.screen.query_one("#q-error").render())
        assert "'my fleet' is not a valid name" in said and "fleet" not in app.state
        await pilot.press("end", "ctrl+u", *"f1", "enter")
        await pilot.pause()
        assert app.state["fleet"] == "f1"
        assert "What it runs" in str(app.screen.query_one("#q-prompt").render())
    app = SetupApp(tmp_path / "x.toml", False, None, None)
    app.state = {
        "fleet": "f1", "stack": "gonka", "ssh_user": "ubuntu", "ssh_key": "~/.ssh/k",
        "clusters": "1", "c1.name": "c1", "c1.ml": "1",
    }  # fmt: skip
    async with app.run_test(size=(100, 20)) as pilot:
        await pilot.pause()
        assert "its 2 machines' addresses" in str(app.screen.query_one("#q-prompt").render())
        await pilot.press(*"10.0.0.1", "enter")
        await pilot.pause()
        said = str(app.screen.query_one("#q-error").render())
        assert "1 addresses given, 2 needed (one per node)" in said
        assert "c1.hosts" not in app.state
