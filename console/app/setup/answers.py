"""The setup's questions, and their answers as a file (`fleetdeck setup --answers FILE`).

Every question has a default where one is sensible; what cannot be guessed (the fleet's
name, its clusters, their machines) must be answered. A bad answer names its field.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, model_validator

from console.core.profile.schema import DriverName, StackName
from console.core.schema import Host, Line, Name, SecretRefStr, Strict, Url, User
from console.core.stacks import STACKS


class AnswersError(Exception):
    pass


class Seeds(Strict):
    seed_api_url: Url
    seed_rpc_url: Url
    seed_p2p_url: Url


class Rent(Strict):
    """Machines to rent for a cluster (the provisioning action)."""

    driver: DriverName
    region: Line
    size: Line
    image: Line
    credentials: SecretRefStr | None = None
    zone: Line | None = None
    project: Line | None = None
    resource_group: Line | None = None
    network: Line | None = None


class ClusterAnswers(Strict):
    name: Name
    roles: dict[str, Annotated[int, Field(ge=0, le=1000)]]  # how many nodes of each role
    hosts: list[Host] = []  # existing machines, in the roles' order; none when renting
    rent: Rent | None = None
    gpus: Annotated[int, Field(ge=0, le=64)] | None = None  # per node that serves a model
    gpu_type: Line | None = None
    model: Line | None = None  # what its serving nodes run
    public_url: Url | None = None  # a chain stack: the participant's URL (default: its first host)


class Answers(Strict):
    fleet: Name
    stack: StackName
    ssh_user: User = "ubuntu"
    ssh_key: Line = "~/.ssh/id_ed25519"
    # a chain stack's release, the configurator's HTTP/HTTPS and domain, the network's seeds
    release: Line | None = None  # the stack's own default
    https: bool = False
    domain: Host | None = None
    seeds: Literal["default"] | Seeds = "default"
    clusters: Annotated[list[ClusterAnswers], Field(min_length=1)]

    @model_validator(mode="after")
    def _consistent(self) -> Answers:
        stack = STACKS[self.stack]
        for c in self.clusters:
            unknown = [r for r in c.roles if r not in stack.roles]
            if unknown:
                raise ValueError(
                    f"cluster {c.name}: role {unknown[0]!r} is not a {self.stack} role "
                    f"(one of {', '.join(stack.roles)})"
                )
            for role in stack.singleton_roles:
                if c.roles.get(role, 0) != 1:
                    raise ValueError(
                        f"cluster {c.name}: a {self.stack} cluster has one {role} node"
                    )
            count = sum(c.roles.values())
            if c.rent is None and len(c.hosts) != count:
                raise ValueError(
                    f"cluster {c.name}: {count} nodes in roles but {len(c.hosts)} hosts; list one "
                    "host per node (in the roles' order), or rent them ([clusters.rent])"
                )
            if c.rent is not None and c.hosts:
                raise ValueError(f"cluster {c.name}: hosts or rent, not both")
        if self.https and not self.domain:
            raise ValueError("https = true needs a domain (its certificate is for that name)")
        names = [c.name for c in self.clusters]
        if len(set(names)) != len(names):
            raise ValueError("two clusters have the same name")
        return self


def load_answers(path: Path) -> Answers:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise AnswersError(f"{path}: cannot be read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise AnswersError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise AnswersError(f"{path}: not TOML: {exc}") from None
    try:
        return Answers.model_validate(data)
    except ValidationError as exc:
        problems = [
            f"{path}: {'.'.join(str(p) for p in e['loc']) or 'answers'}: "
            + e["msg"].removeprefix("Value error, ")
            for e in exc.errors()
        ]
        raise AnswersError("\n".join(problems)) from None
