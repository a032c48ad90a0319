"""The floors hold by contract (pyproject.toml [tool.importlinter]), over whole packages:
a copy of the tree with one wrong import added breaks `lint-imports`, naming the contract."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).with_name("lint-imports")


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("floors")
    for package in ("console", "actions", "screens"):
        shutil.copytree(REPO / package, root / package, ignore=shutil.ignore_patterns("*.pyc"))
    shutil.copy(REPO / "pyproject.toml", root)
    return root


def lint(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT), "--no-cache"],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("module", "wrong", "contract"),
    [
        ("screens/cells.py", "import console.core.transport.ssh", "screens reach no SSH"),
        ("screens/node.py", "import console.core.monitor.monitor", "screens reach no SSH"),
        ("console/core/text.py", "import console.app.cli", "the floors import downward only"),
        ("console/core/state.py", "import console.sim.fleet", "reaches the simulator only"),
        ("console/sim/gpus.py", "import console.core.stacks.gonka", "shares no decision"),
    ],
    ids=["screen-transport", "screen-ssh-source", "core-top", "core-simulator", "simulator-stack"],
)
def test_a_wrong_import_breaks_the_build(tree, module, wrong, contract):
    if not LINT.exists():
        pytest.fail(f"{LINT} is missing: the test command installs import-linter")
    path = tree / module
    kept = path.read_text()
    path.write_text(kept + f"\n{wrong}  # noqa\n")
    try:
        done = lint(tree)
    finally:
        path.write_text(kept)
    assert done.returncode != 0, done.stdout[-2000:]
    broken = done.stdout[done.stdout.index("Broken contracts") :]
    assert contract in broken and wrong.split()[1] in broken, broken


def test_the_tree_as_it_is_keeps_every_contract(tree):
    done = lint(tree)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "0 broken" in done.stdout
