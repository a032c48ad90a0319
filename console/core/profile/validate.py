"""A profile's text validated: TOML syntax (a duplicate key named with both its lines),
the schema (pydantic's errors said in the profile's words, with the field's neighbours
when a name is misspelt), then the whole-document rules (rules.py)."""

from __future__ import annotations

import difflib
from typing import Any

import tomlkit
import tomlkit.exceptions
from pydantic import BaseModel, ValidationError

from console.core.profile.names import qualify
from console.core.profile.problems import PathT, Problem, ProfileError
from console.core.profile.rules import credential_problems, document_problems, secret_problems
from console.core.profile.schema import FleetProfile
from console.core.stacks import STACK_NAMES
from console.core.tomlpos import format_path, line_of, locate


def parse_toml(text: str, file: str) -> tomlkit.TOMLDocument:
    try:
        return tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as exc:
        message = str(exc).split(" at line ")[0]
        if "already exists" in message:  # tomlkit >= 0.15 reports a duplicate key this way
            raise _duplicate_key(text, file, message, exc.line) from None
        fix = None
        if "Control characters" in message or "Unexpected end of file" in message:
            fix = "is a string or bracket left unclosed on this line or just above?"
        raise ProfileError(
            [Problem(file, f"TOML syntax error: {message}", line=exc.line, col=exc.col, fix=fix)]
        ) from None
    except Exception as exc:  # tomlkit < 0.15: KeyAlreadyPresent, which carries no position
        raise _duplicate_key(text, file, str(exc), None) from None


def _duplicate_key(text: str, file: str, message: str, line: int | None) -> ProfileError:
    """A key defined twice, with the path and line of the second definition and the fix.

    tomlkit names only the last key part (and, since 0.15, a line): our own scanner finds
    the full path, so both tomlkit behaviours give the same message.
    """
    duplicates: list[tuple[PathT, int]] = []
    locate(text, duplicates)
    path, found = duplicates[0] if duplicates else ((), line)
    fix = f"remove one of the two {format_path(path)} lines" if path else None
    return ProfileError([Problem(file, f"TOML syntax error: {message}", path, found, fix=fix)])


def validate(doc: tomlkit.TOMLDocument, text: str, file: str) -> FleetProfile:
    positions = locate(text)
    written: dict[PathT, PathT] = {}  # a setting's qualified path -> as the file writes it

    def at(path: PathT, message: str, fix: str | None = None) -> Problem:
        path = tuple(path)
        for n in range(min(len(path), 4), 1, -1):
            if path[:n] in written:
                path = written[path[:n]] + path[n:]
                break
        return Problem(file, message, path, line_of(positions, path), fix=fix)

    try:
        data = doc.unwrap()
    except Exception as exc:  # a document tomlkit parsed but cannot unwrap
        raise ProfileError([Problem(file, f"unreadable TOML value: {exc}")]) from None

    problems = list(secret_problems(data, at)) + list(credential_problems(data, at))
    secret_paths = {p.path for p in problems}
    written, naming = qualify(data)  # bare setting names as the model names them
    problems += [at(path, message, fix) for path, message, fix in naming]
    model: FleetProfile | None = None
    try:
        model = FleetProfile.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            path = tuple(err["loc"])
            problem = at(path, *_describe(err, path))
            if problem.path in secret_paths:
                continue  # already reported, with the better message
            problems.append(problem)
    problems.extend(document_problems(data, at))
    if problems:
        problems.sort(key=lambda p: (p.line is None, p.line or 0))
        raise ProfileError(_dedupe(problems))
    assert model is not None
    return model


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen: set[tuple[PathT, str]] = set()
    out = []
    for p in problems:
        if (p.path, p.message) not in seen:
            seen.add((p.path, p.message))
            out.append(p)
    return out


def _describe(err: dict[str, Any], path: PathT) -> tuple[str, str | None]:
    kind = err["type"]
    if kind == "extra_forbidden":
        key = str(path[-1])
        known = _known_fields(path[:-1])
        close = difflib.get_close_matches(key, known, n=1)
        fix = f"did you mean '{close[0]}'?" if close else None
        if not fix and known:
            fix = "known keys here: " + ", ".join(known)
        return f"unknown key '{key}'", fix
    if kind == "missing":
        key = path[-1]
        if key == "fleet":
            stacks = " or ".join(f'"{s}"' for s in STACK_NAMES)
            return "required table is missing", f'add [fleet] with name = "…" and stack = {stacks}'
        if key == "clusters":
            return "required table is missing", "add [[clusters]] with [[clusters.nodes]] entries"
        return "required field is missing", f"add {key} = …"
    if kind in ("int_type", "float_type", "int_parsing") and isinstance(err.get("input"), str):
        return f"{err['msg']} (got {_short(err['input'])})", (
            f"write {err['input']} without quotes" if _numeric(err["input"]) else None
        )
    if kind == "value_error":
        return str(err["ctx"]["error"]), None
    if kind in ("literal_error",):
        return f"{err['input']!r} is not allowed: {err['msg'].removeprefix('Input ')}", None
    return f"{err['msg']} (got {_short(err.get('input'))})", None


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _known_fields(path: PathT) -> list[str]:
    """Field names of the schema model at `path` (for typo hints)."""
    model: Any = FleetProfile
    for part in path:
        if isinstance(part, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
        field = model.model_fields.get(part)
        if field is None:
            return []
        model = _inner_model(field.annotation)
    return (
        list(model.model_fields) if isinstance(model, type) and issubclass(model, BaseModel) else []
    )


def _inner_model(annotation: Any) -> Any:
    """The BaseModel inside list[...], X | None, Annotated[...]; else None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _inner_model(arg)
        if found is not None:
            return found
    origin = getattr(annotation, "__origin__", None)
    if origin is not None and origin is not list:
        return _inner_model(origin) if isinstance(origin, type) else None
    return None
