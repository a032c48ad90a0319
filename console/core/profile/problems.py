"""A profile problem: its file, line and field path, what is wrong and the fix."""

from __future__ import annotations

from dataclasses import dataclass

from console.core.tomlpos import format_path

PathT = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    file: str
    message: str
    path: PathT = ()
    line: int | None = None
    col: int | None = None
    fix: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.col is not None:
                where += f":{self.col}"
        text = (
            f"{where}: {format_path(self.path)}: {self.message}"
            if self.path
            else (f"{where}: {self.message}")
        )
        if self.fix:
            text += f"\n    fix: {self.fix}"
        return text


class ProfileError(Exception):
    """A profile that cannot be used; carries every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))
