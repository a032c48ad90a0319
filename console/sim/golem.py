"""A Golem provider on a simulated node's host (reference/golem-provider.md): what the
installer put in place, ya-provider's files in their real formats (globals.json,
presets.json, hardware.json under ~/.local/share/ya-provider), yagna's identity and
app-keys, and what `golemsp run` does when its unit starts, the real one's traps included:

- a runtime without a preset of its own name makes `golemsp run` rewrite every preset at
  the default price (0.025 GLM/h), custom prices lost;
- `ya-provider config set` without `--subnet` (and no SUBNET in the environment) puts the
  subnet back to `public`;
- `golemsp setup --no-interactive` invents a new node name each time.

The faults an operator meets (no offers, VM without KVM, relay unreachable, payment driver
failing) are flags in `.sim/golem/faults`, set by the simulator's fault command.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from pathlib import Path
from typing import Any

from console.core.atomic import atomic_write_text

CORE, VM, WASI = "0.17.6", "0.4.2", "0.2.2"  # what the stand-in installer installs unpinned
INSTALLER = "file://" + str(Path(__file__).with_name("tools") / "golem_install.sh")
DEFAULT_GLM_H = 0.025
NETWORKS = {
    "mainnet": ("mainnet", "polygon"),
    "testnet": ("holesky", "hoodi", "amoy", "sepolia"),
}
# golem_cli's `names` generator, as --no-interactive uses it: adjective-noun
ADJECTIVES = ("amusing", "brave", "calm", "eager", "fancy", "gentle", "jolly", "lively")
NOUNS = ("crate", "river", "pebble", "lantern", "meadow", "comet", "harbor", "orchid")
DESCRIPTORS = {
    "ya-runtime-wasi.json": {
        "name": "wasmtime",
        "version": WASI,
        "supervisor-path": "exe-unit",
        "runtime-path": "ya-runtime-wasi",
        "description": "wasmtime wasi runtime",
    },
    "ya-runtime-vm.json": [
        {
            "name": "vm",
            "version": VM,
            "supervisor-path": "exe-unit",
            "extra-args": ["--cap-handoff"],
            "runtime-path": "ya-runtime-vm/ya-runtime-vm",
            "description": "vm runtime",
            "properties": {},
            "config": None,
        }
    ],
}
FAULTS = ("no-offers", "vm-no-access", "relay", "payment-driver")


def coeffs(cpu_h: float, env_h: float) -> dict[str, float]:
    return {"golem.usage.cpu_sec": cpu_h / 3600, "golem.usage.duration_sec": env_h / 3600}


def default_preset(name: str, exeunit: str) -> dict[str, Any]:
    """What `golemsp run` writes for a runtime that lacks its preset (setup.rs)."""
    return {
        "name": name,
        "exeunit-name": exeunit,
        "pricing-model": "linear",
        "initial-price": 0.0,
        "usage-coeffs": coeffs(DEFAULT_GLM_H, DEFAULT_GLM_H / 5),
    }


class GolemHost:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.provider_dir = home / ".local" / "share" / "ya-provider"
        self.yagna_dir = home / ".local" / "share" / "yagna"
        self.plugins = home / ".local" / "lib" / "yagna" / "plugins"
        self.bin = home / ".local" / "bin"
        self.state = home / ".sim" / "golem"
        self.started_at: float | None = None  # when its unit last started golemsp run
        self.env: dict[str, str] = {}  # the environment it started with
        self._offers: tuple[tuple, list[dict]] = ((), [])

    # -- what is installed
    def installed(self) -> dict[str, str] | None:
        try:
            return json.loads((self.state / "installed.json").read_text())
        except (OSError, ValueError):
            return None

    def install(self, core: str, vm: str, wasi: str) -> None:
        """The installer's work: binaries, runtimes, then `ya-provider pre-install`."""
        from console.sim import tools  # noqa: PLC0415 - tools import this module

        self.state.mkdir(parents=True, exist_ok=True)
        atomic_write_text(
            self.state / "installed.json", json.dumps({"core": core, "vm": vm, "wasi": wasi})
        )
        self.bin.mkdir(parents=True, exist_ok=True)
        for name in ("golemsp", "yagna", "ya-provider"):
            tools.install(self.home, name)
        self.plugins.mkdir(parents=True, exist_ok=True)
        for name, desc in DESCRIPTORS.items():
            text = json.dumps(desc).replace(f'"{VM}"', f'"{vm}"').replace(f'"{WASI}"', f'"{wasi}"')
            atomic_write_text(self.plugins / name, text)
        self.pre_install()

    def pre_install(self) -> None:
        """ya-provider's files, created where missing (a re-install keeps them)."""
        self.provider_dir.mkdir(parents=True, exist_ok=True)
        if not (self.provider_dir / "globals.json").exists():
            self.write("globals.json", {"node_name": None, "subnet": "public", "account": None})
        if not (self.provider_dir / "presets.json").exists():
            fresh = {"name": "default", "exeunit-name": "wasmtime", "pricing-model": "linear"}
            fresh |= {"initial-price": 0.0, "usage-coeffs": {}}
            self.write("presets.json", {"ver": "V1", "active": ["default"], "presets": [fresh]})
        if not (self.provider_dir / "hardware.json").exists():
            default = {"cpu_threads": 7, "mem_gib": 10.604358091950417, "storage_gib": 59.39}
            self.write("hardware.json", {"active": "default", "profiles": {"default": default}})

    # -- ya-provider's files
    def read(self, name: str) -> Any:
        try:
            return json.loads((self.provider_dir / name).read_text())
        except (OSError, ValueError):
            return None

    def write(self, name: str, doc: Any) -> None:
        self.provider_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.provider_dir / name, json.dumps(doc, indent=2) + "\n")

    def exe_units(self) -> list[dict]:
        out: list[dict] = []
        for path in sorted(self.plugins.glob("ya-*.json")):
            try:
                doc = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            out += doc if isinstance(doc, list) else [doc]
        return out

    def presets(self) -> dict[str, Any]:
        return self.read("presets.json") or {"ver": "V1", "active": [], "presets": []}

    def globals(self) -> dict[str, Any]:
        return self.read("globals.json") or {"node_name": None, "subnet": "public", "account": None}

    def set_globals(
        self, node_name: str | None, subnet: str | None, account: str | None, env: dict
    ) -> None:
        """`ya-provider config set`: the subnet not given, nor in the environment, goes
        back to `public` (globals.rs update_and_save; trap 2)."""
        doc = self.globals()
        if node_name is not None:
            doc["node_name"] = node_name
        if account is not None:
            doc["account"] = account
        doc["subnet"] = subnet or env.get("SUBNET") or "public"
        self.write("globals.json", doc)

    # -- yagna's identity and app-keys
    def identity(self, secret: str | None = None) -> str:
        path = self.yagna_dir / "identity.json"
        try:
            return json.loads(path.read_text())["nodeId"]
        except (OSError, ValueError, KeyError):
            pass
        seed = secret or f"{self.home}-{time.time()}"
        node_id = "0x" + hashlib.sha256(seed.encode()).hexdigest()[:40]
        self.yagna_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps({"nodeId": node_id}), mode=0o600)
        return node_id

    def app_keys(self) -> list[dict]:
        try:
            return json.loads((self.yagna_dir / "appkeys.json").read_text())
        except (OSError, ValueError):
            return []

    def add_app_key(self, name: str, key: str | None = None) -> str:
        keys = [k for k in self.app_keys() if k["name"] != name]
        key = key or hashlib.sha256(f"{name}{time.time()}".encode()).hexdigest()[:32]
        created = time.strftime("%Y-%m-%dT%H:%M:%S.000000", time.gmtime())
        keys.append({"name": name, "key": key, "id": self.identity()} | {"role": "manager"})
        keys[-1]["created"] = created
        self.yagna_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.yagna_dir / "appkeys.json", json.dumps(keys), mode=0o600)
        return key

    # -- faults
    def faults(self) -> set[str]:
        try:
            return set((self.state / "faults").read_text().split())
        except OSError:
            return set()

    def set_fault(self, name: str, on: bool) -> None:
        have = self.faults() - {name} | ({name} if on else set())
        self.state.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.state / "faults", "\n".join(sorted(have)) + "\n")

    def kvm_ok(self) -> bool:
        return "vm-no-access" not in self.faults()

    # -- golemsp run
    def random_name(self) -> str:
        return f"{random.choice(ADJECTIVES)}-{random.choice(NOUNS)}"  # noqa: S311

    def presets_for_every_runtime(self) -> bool:
        """Whether each exe-unit has a preset of its own name (else `golemsp run` resets)."""
        have = {(p["name"], p["exeunit-name"]) for p in self.presets()["presets"]}
        return all((u["name"], u["name"]) in have for u in self.exe_units())

    def reset_presets(self) -> None:
        """golemsp's setup: every runtime's preset at the default price (trap 1)."""
        units = [u["name"] for u in self.exe_units()]
        doc = self.presets()
        kept = [p for p in doc["presets"] if p["name"] not in units]
        doc["presets"] = sorted(
            kept + [default_preset(u, u) for u in units], key=lambda p: p["name"]
        )
        doc["active"] = sorted(units)
        self.write("presets.json", doc)

    def run(self, env: dict[str, str]) -> None:
        """What `golemsp run --no-interactive` does as its unit starts it."""
        g = self.globals()
        if not g.get("node_name"):
            g["node_name"] = env.get("NODE_NAME") or self.random_name()
        if env.get("SUBNET"):
            g["subnet"] = env["SUBNET"]
        if env.get("YA_ACCOUNT"):
            g["account"] = env["YA_ACCOUNT"]
        self.write("globals.json", g)
        if not self.presets_for_every_runtime():
            self.reset_presets()
        self.identity(env.get("YAGNA_AUTOCONF_ID_SECRET"))  # made at first start
        if env.get("YAGNA_AUTOCONF_APPKEY"):
            self.add_app_key("autoconfigured", env["YAGNA_AUTOCONF_APPKEY"])
        if not any(k["name"] == "golem-cli" for k in self.app_keys()):
            self.add_app_key("golem-cli")
        self.started_at, self.env = time.time(), dict(env)

    @property
    def offers(self) -> list[dict]:
        """The offers subscribed now: ya-provider watches its files (presets, globals) and
        publishes anew when they change, as it re-checks /dev/kvm."""
        if self.started_at is None:
            return []
        files = [self.provider_dir / n for n in ("presets.json", "globals.json")]
        key = (*(f.stat().st_mtime_ns if f.exists() else 0 for f in files), *sorted(self.faults()))
        if key != self._offers[0]:
            self._offers = (key, self.subscribe(self.identity(), self.env))
        return self._offers[1]

    def subscribe(self, node_id: str, env: dict[str, str]) -> list[dict]:
        """One offer per active preset whose runtime is there and passes its test."""
        if "no-offers" in self.faults():
            return []
        units = {u["name"] for u in self.exe_units()}
        doc, g = self.presets(), self.globals()
        networks = NETWORKS.get(env.get("YA_PAYMENT_NETWORK_GROUP", "mainnet"), ())
        account = g.get("account") or node_id
        offers = []
        for p in doc["presets"]:
            runtime = p["exeunit-name"]
            if p["name"] not in doc["active"] or runtime not in units:
                continue
            if runtime.startswith("vm") and not self.kvm_ok():
                continue
            props: dict[str, Any] = {
                "golem.node.id.name": g.get("node_name"),
                "golem.node.debug.subnet": g.get("subnet"),
                "golem.runtime.name": runtime,
                "golem.com.pricing.model.linear.coeffs": [
                    *p["usage-coeffs"].values(),
                    p["initial-price"],
                ],
            }
            for net in networks:
                token = "glm" if net in ("mainnet", "polygon") else "tglm"
                props[f"golem.com.payment.platform.erc20-{net}-{token}.address"] = account
            offer_id = hashlib.sha256(f"{node_id}{p['name']}{props}".encode()).hexdigest()
            offers.append(
                {
                    "offerId": f"{offer_id[:32]}-{offer_id[32:]}",
                    "providerId": node_id,
                    "properties": props,
                    "constraints": "(golem.srv.comp.expiration>0)",
                    "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                }
            )
        return offers

    def stopped(self) -> None:
        self.started_at, self._offers = None, ((), [])

    # -- what yagna answers
    def healthcheck(self) -> tuple[int, dict]:
        faults = self.faults()
        if "relay" in faults:
            return 500, {
                "type": "/healthcheck/internal-error",
                "title": "Internal error",
                "status": 500,
                "instance": "/healthcheck/internal-error/net-service-error",
                "step": "relay-check",
            }
        if "payment-driver" in faults:
            return 500, {
                "type": "/healthcheck/payment-driver-errors",
                "title": "Payment driver errors",
                "status": 500,
                "problems": ["Persistent RPC issues"],
            }
        return 200, {"status": "ok"}

    def driver_problems(self) -> list[dict]:
        if "payment-driver" not in self.faults():
            return []
        return [{"kind": "RpcError", "driver": "erc20", "network": "polygon"}]

    def vm_problem(self) -> str | None:
        if self.kvm_ok():
            return None
        return (
            "the user has no access to /dev/kvm. For additional help see: "
            "https://docs.golem.network/docs/troubleshooting/provider"
            "#could-not-access-kvm-kernel-module-no-such-file-or-directory"
        )
