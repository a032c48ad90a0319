"""The operator's key map (key bindings remapped): ~/.config/fleetdeck/keys.toml.

    [keys]
    "app.triage" = "T"            # binding id = key, or several keys separated by commas
    "fleet.filter" = "f,slash"

Binding ids are listed by `?` on each screen and in profiles/README.md. A broken file
never stops the console: its problems are reported (file, line, fix) and the defaults used.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from pathlib import Path

from console.core.tomlpos import line_of, locate

# Textual key names: letters, digits, named keys, with ctrl+/shift+/alt+ modifiers
KEY_RE = re.compile(r"^((ctrl|shift|alt|meta|super)\+)*[A-Za-z0-9_]+$")


MAX_BYTES = 64 * 1024  # a key map is a few dozen lines; a bigger file is not one
MAX_PROBLEMS = 20  # said one by one; the rest counted (each is a notification on screen)


def keys_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    return Path(base) / "fleetdeck" / "keys.toml"


def load_keymap(path: Path, known: set[str]) -> tuple[dict[str, str], list[str]]:
    """(binding id -> keys) from `path`, and the problems found; a missing file is fine."""
    if not path.exists():
        return {}, []
    try:
        size = path.stat().st_size
        if path.is_file() and size > MAX_BYTES:
            return {}, [
                f"{path}: {size:,} bytes, more than a key map holds ({MAX_BYTES // 1024} KiB): "
                "the default keys are in use"
            ]
        text = path.read_text(encoding="utf-8-sig", errors="replace")  # a BOM is not a key
    except OSError as exc:  # a directory, no permission
        why = "is a directory" if path.is_dir() else f"cannot be read ({exc.strerror})"
        return {}, [f"{path}: {why}; the default keys are in use"]
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return {}, [f"{path}: {exc}; fix the TOML syntax (the default keys are in use)"]
    problems: list[str] = []
    index = locate(text)
    extra = [k for k in doc if k != "keys"]
    for key in extra:
        problems.append(f"{path}:{line_of(index, (key,)) or 1}: [{key}] is not known; only [keys]")
    table = doc.get("keys", {})
    if not isinstance(table, dict):
        return {}, [*problems, f"{path}: keys must be a table: [keys]"]
    keymap: dict[str, str] = {}
    unknown = 0
    for binding, keys in table.items():
        where = f"{path}:{line_of(index, ('keys', binding)) or 1}"
        if binding not in known and len(problems) >= MAX_PROBLEMS:
            unknown += 1  # no hint sought: thousands of them would stall the console
            continue
        if binding not in known:
            close = sorted(k for k in known if k.split(".")[-1] == binding.split(".")[-1])
            close = close or difflib.get_close_matches(binding, sorted(known), n=2, cutoff=0.6)
            hint = f"did you mean {', '.join(close)}?" if close else "press ? to see the ids"
            problems.append(f"{where}: no binding {binding!r}; {hint}")
            continue
        if not isinstance(keys, str) or not keys.strip():
            problems.append(f'{where}: {binding} must be a string of keys, e.g. "ctrl+t"')
            continue
        bad = [k for k in (x.strip() for x in keys.split(",")) if not KEY_RE.match(k)]
        if bad:
            problems.append(
                f"{where}: {binding}: {', '.join(repr(b) for b in bad)} is not a key name "
                '(examples: "t", "T", "ctrl+t", "f5", "question_mark")'
            )
            continue
        chosen = [x.strip() for x in keys.split(",")]
        taken = [k for k in chosen if k in RESERVED and RESERVED[k] != binding]
        if taken:
            problems.append(
                f"{where}: {binding}: {', '.join(repr(k) for k in taken)} is kept for "
                f"{', '.join(RESERVED[k] for k in taken)}; choose another key"
            )
            continue
        keymap[binding] = ",".join(chosen)
    if unknown:
        problems.append(f"{path}: {unknown} more unknown binding ids (press ? to see the ids)")
    return keymap, problems


# keys no remap may take: quitting, and Enter and Escape, which every screen and dialog use
RESERVED = {"q": "app.quit", "enter": "enter (open, confirm)", "escape": "escape (back, cancel)"}
