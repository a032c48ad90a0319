"""The building blocks of the profile's schema (pydantic v2): strict models that refuse
unknown keys, and the checked types of hosts, addresses, names, secret references, URLs
and ports. The profile schema (profile_schema.py) and each stack's settings
(console/core/stacks/) are made of them."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from console.core.secrets import REFERENCE_SYNTAX, SecretError, parse_ref, shown_as_ref
from console.core.text import printable

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
_LABEL_RE = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def check_host(value: str) -> str:
    """An IP address or an RFC 1123 host name; `10.0.0.300` is neither."""
    try:
        ipaddress.ip_address(value)
        return value
    except ValueError:
        pass
    labels = value.rstrip(".").split(".")
    if (
        0 < len(value) <= 253
        and all(_LABEL_RE.match(label) for label in labels)
        and not labels[-1].isdigit()
    ):
        return value
    raise ValueError(f"{value!r} is not an IP address or hostname")


def check_ip(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address") from None
    return value


def check_name(value: str) -> str:
    if not _NAME_RE.match(value):
        raise ValueError(
            f"{value!r} is not a valid name: use letters, digits, '.', '_' or '-', "
            "starting with a letter or digit, at most 63 characters"
        )
    return value


_USER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,31}$")


def check_user(value: str) -> str:
    """A login name as useradd takes it: never empty, never an option (`-oProxyCommand=`)."""
    if not _USER_RE.match(value):
        raise ValueError(
            f"{value[:40]!r} is not a login name: letters, digits, '_', '.' or '-', "
            "starting with a letter or '_', at most 32 characters"
        )
    return value


def check_line(value: str) -> str:
    """Free text on one line: no control characters (a newline would add lines to the
    profile), no bidi overrides (they reverse what the console shows)."""
    if "\n" in value or "\t" in value or printable(value) != value:
        raise ValueError(f"{value[:60]!r} holds a control character: remove it")
    return value


def check_cidr(value: str) -> str:
    """An address block as a firewall takes it: 203.0.113.0/24, 2001:db8::/32, 0.0.0.0/0."""
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError(f"{value[:60]!r} is not an address block (e.g. 203.0.113.0/24)") from None
    return value


# where every cloud answers its instances' metadata, credentials included: an API
# "endpoint" there would hand the cloud's secrets to whoever asks through fleetdeck
_METADATA = {"169.254.169.254", "fd00:ec2::254", "metadata.google.internal", "metadata"}


def check_endpoint(value: str) -> str:
    check_url(value)
    try:
        host = urlsplit(value).hostname or ""
    except ValueError:  # a bracketed host that is no address
        raise ValueError(f"{value[:60]!r} is not a URL") from None
    try:
        link_local = ipaddress.ip_address(host).is_link_local
    except ValueError:
        link_local = False
    if link_local or host.lower() in _METADATA:
        raise ValueError(
            f"{host!r} is a cloud metadata address, not an API endpoint: an EC2-compatible "
            "API (moto, LocalStack) has an address of its own"
        )
    return value


NAME_FIELDS = ("pool", "cluster", "role", "n")
_PLACEHOLDER = re.compile(r"\{(" + "|".join(NAME_FIELDS) + r")\}")


def render_names(pattern: str, **fields: object) -> str:
    """A pool's `names` for one machine: {pool}, {cluster}, {role} and {n} replaced, and
    nothing else taken from the text (str.format ran the operator's expressions:
    {pool.__class__}, {n:>99999999})."""
    rest = _PLACEHOLDER.sub("", pattern)
    if "{" in rest or "}" in rest:
        raise ValueError(
            "only {pool}, {cluster}, {role} and {n} may stand in braces (no formats or fields)"
        )
    return _PLACEHOLDER.sub(lambda m: str(fields[m.group(1)]), pattern)


def check_ref(value: str) -> str:
    try:
        parse_ref(value)
    except SecretError:
        raise ValueError(
            f"{shown_as_ref(value)} is not a secret reference; use {REFERENCE_SYNTAX}"
        ) from None
    return value


def check_url(value: str) -> str:
    if not re.match(r"^(https?|tcp)://[^\s/]+", value):
        raise ValueError(f"{value!r} is not a URL (expected http://, https:// or tcp://HOST...)")
    return value


def check_script_url(value: str) -> str:
    """An install script's address: https://, or file:// a mirror (a simulator's stand-in)."""
    if not re.match(r"^(https?|file)://\S+$", value):
        raise ValueError(f"{value!r} is not a URL (https://…, or file:// a mirror)")
    return value


Host = Annotated[str, AfterValidator(check_host)]
User = Annotated[str, AfterValidator(check_user)]
Line = Annotated[str, AfterValidator(check_line)]
Word = Annotated[str, Field(min_length=1), AfterValidator(check_line)]  # never empty
Cidr = Annotated[str, AfterValidator(check_cidr)]
Endpoint = Annotated[str, AfterValidator(check_endpoint)]
Ip = Annotated[str, AfterValidator(check_ip)]
Name = Annotated[str, AfterValidator(check_name)]
SecretRefStr = Annotated[str, AfterValidator(check_ref)]
Url = Annotated[str, AfterValidator(check_url)]
ScriptUrl = Annotated[str, AfterValidator(check_script_url)]
Port = Annotated[int, Field(ge=1, le=65535)]
Labels = dict[str, str]


class Strict(BaseModel):
    # unknown keys are errors: a typo must never be silently ignored
    model_config = ConfigDict(extra="forbid", strict=True)
