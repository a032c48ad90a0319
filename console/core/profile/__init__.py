"""TOML fleet profiles: load, validate, edit, save.

The tomlkit document is the source of truth, so an edit keeps every comment and untouched
line of the operator's file; the pydantic model is a validated view of it. Loading reports
all problems at once, each with its file, line and field path, and a fix where there is one.

The package's rooms: the schema (schema.py), the validation of a text (validate.py:
syntax and schema errors in words) with the document rules (rules.py, pools.py), the
editable document (document.py) and what a problem is (problems.py)."""

from __future__ import annotations

import os
from pathlib import Path

from console.core.profile.document import Profile
from console.core.profile.problems import PathT, Problem, ProfileError
from console.core.profile.validate import parse_toml, validate

__all__ = ["PathT", "Problem", "Profile", "ProfileError", "load", "loads", "parse_toml", "validate"]


def load(path: str | os.PathLike[str]) -> Profile:
    """Read and validate a profile file. Raises ProfileError, never anything else."""
    file = str(path)
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ProfileError([Problem(file, "file not found")]) from None
    except IsADirectoryError:
        raise ProfileError([Problem(file, "is a directory, not a profile file")]) from None
    except UnicodeDecodeError as exc:
        raise ProfileError(
            [Problem(file, f"not UTF-8 text ({exc.reason} at byte {exc.start})")]
        ) from None
    except OSError as exc:
        raise ProfileError([Problem(file, f"cannot read: {exc.strerror}")]) from None
    return loads(text, file)


def loads(text: str, file: str = "<profile>") -> Profile:
    doc = parse_toml(text, file)
    model = validate(doc, text, file)
    return Profile(file, doc, model)
