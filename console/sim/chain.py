"""The emulated Gonka chain of one cluster: blocks, validators, epochs and participants.

Heights follow the wall clock (one block per `block_time`), so nothing has to tick; a
stalled chain freezes its height and resumes from there when the fault clears.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from console.sim import bech32

MAINNET_EPOCH = 40320  # blocks (reference/gonka-0.2.15.md §3.2: epoch_length 40320)
# epoch stages, in blocks after the epoch's PoC start (the real chain's order)
STAGES = {
    "poc_generation_wind_down": 16,
    "poc_generation_end": 20,
    "poc_validation_start": 21,
    "poc_validation_wind_down": 30,
    "poc_validation_end": 34,
    "set_new_validators": 36,
    "claim_money": 38,
}


def rfc3339(ts: float) -> str:
    dt = datetime.fromtimestamp(ts, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond * 1000:09d}Z"


def digest(*parts: object) -> bytes:
    return hashlib.sha256("/".join(map(str, parts)).encode()).digest()


def consensus_key(seed: str) -> tuple[str, str]:
    """(base64 ed25519-like public key, upper-hex address = first 20 bytes of its sha256)."""
    pub = digest("consensus", seed)
    return base64.b64encode(pub).decode(), hashlib.sha256(pub).hexdigest()[:40].upper()


def account_address(pubkey_b64: str) -> str:
    return bech32.encode("gonka", hashlib.sha256(base64.b64decode(pubkey_b64)).digest()[:20])


@dataclass
class Participant:
    address: str
    url: str
    validator_key: str
    account_pubkey: str
    join_height: int
    models: list[str] = field(default_factory=list)
    weight: int = 0
    # grantee -> when its ML-ops authz grants expire; and its fee allowance (v0.2.12+)
    grants: dict[str, float] = field(default_factory=dict)
    allowances: dict[str, float] = field(default_factory=dict)
    status: str = "ACTIVE"
    balance: int = 0

    @property
    def ml_ops_grantees(self) -> set[str]:
        return set(self.grants)


# `inferenced tx gov vote <id> <option>` -> the vote as x/gov v1 writes it
VOTE_OPTIONS = {
    "yes": "VOTE_OPTION_YES",
    "no": "VOTE_OPTION_NO",
    "abstain": "VOTE_OPTION_ABSTAIN",
    "no_with_veto": "VOTE_OPTION_NO_WITH_VETO",
}
# the Participant status enum as the chain's protobuf JSON writes it (numbers)
STATUS_CODES = {"ACTIVE": 1, "INACTIVE": 2, "INVALID": 3, "UNCONFIRMED": 5}
YEAR_S = 365 * 24 * 3600


@dataclass
class ChainFaults:
    stalled_at: int | None = None  # frozen height
    stall_started: float = 0.0
    catching_up: bool = False
    no_peers: bool = False
    jailed: bool = False
    miss_rate: float = 0.01  # of the requests routed to our participant this epoch
    poc_at: int | None = None  # PoC runs since this height, wherever the clock stands
    confirmation_poc: bool = False  # a confirmation PoC runs inside the epoch


class ChainSim:
    def __init__(
        self,
        chain_id: str,
        moniker: str,
        block_time: float = 1.0,
        epoch_length: int = 240,
        start_height: int = 873_200,
        clock=time.time,
        release: str = "v0.2.14",
    ) -> None:
        self.chain_id = chain_id
        # the release its hosts run: its API answers in that release's shapes
        self.release = release
        self.moniker = moniker
        self.block_time = block_time
        self.epoch_length = epoch_length
        self.start_height = start_height
        self.clock = clock
        self.t0 = clock()
        self._paused = 0.0  # seconds the chain spent stalled
        self.faults = ChainFaults()
        self.node_id = digest("node-id", chain_id, moniker).hex()[:40]
        self.validator_key, self.validator_address = consensus_key(f"{chain_id}/{moniker}")
        # the rest of the network: validators and peers that are not ours
        self.others = [consensus_key(f"{chain_id}/peer{i}") for i in range(1, 5)]
        self.participants: dict[str, Participant] = {}
        # auth accounts: address -> account_number, sequence, pub_key (None: never signed)
        self.accounts: dict[str, dict] = {}
        self.txs: dict[str, dict] = {}
        self.lock = threading.RLock()
        self.proposals: dict[int, dict] = {}  # id -> title, summary, times, {voter: option}
        self.upgrade: dict | None = None  # name, height, outcome (x/upgrade's plan)

    # -- blocks
    def height(self) -> int:
        with self.lock:
            if self.faults.stalled_at is not None:
                return self.faults.stalled_at
            elapsed = self.clock() - self.t0 - self._paused
            return self.start_height + int(elapsed / self.block_time)

    def advance(self, blocks: int) -> None:
        """Jump `blocks` ahead (a test's way to reach the next PoC without waiting)."""
        with self.lock:
            self.t0 -= blocks * self.block_time

    def block_time_of(self, height: int) -> float:
        return self.t0 + self._paused + (height - self.start_height) * self.block_time

    def stall(self) -> None:
        with self.lock:
            if self.faults.stalled_at is None:
                self.faults.stalled_at = self.height()
                self.faults.stall_started = self.clock()

    def unstall(self) -> None:
        with self.lock:
            if self.faults.stalled_at is not None:
                self._paused += self.clock() - self.faults.stall_started
                self.faults.stalled_at = None

    def block_hash(self, height: int) -> str:
        return digest("block", self.chain_id, height).hex().upper()

    # -- validators
    def validators(self) -> list[tuple[str, str, int]]:
        """(address, pubkey, voting power); ours is absent while jailed or unregistered."""
        vals = [(addr, key, 250_000 - 10_000 * i) for i, (key, addr) in enumerate(self.others)]
        registered = any(p.validator_key == self.validator_key for p in self.participants.values())
        if registered and not self.faults.jailed:
            vals.append((self.validator_address, self.validator_key, 37_778))
        return sorted(vals, key=lambda v: -v[2])

    def our_voting_power(self) -> int:
        return next((p for a, _, p in self.validators() if a == self.validator_address), 0)

    # -- epochs
    def epoch(self) -> dict:
        h = self.height()
        index = (h - 1) // self.epoch_length
        poc_start = index * self.epoch_length + 1
        length = self.epoch_length
        if self.faults.poc_at is not None:
            # a PoC begun when the fault came, on mainnet's clock: the next one a mainnet
            # epoch later, so the window before it lies ahead (this simulator's own epochs
            # are shorter than the 500-block window)
            poc_start, length = self.faults.poc_at, MAINNET_EPOCH
        stages = self._stages(index, poc_start)
        nxt = self._stages(index + 1, poc_start + length)
        return {
            "block_height": h,
            "latest_epoch": {"index": index, "poc_start_block_height": poc_start},
            "phase": "PoCGenerate"
            if self.faults.poc_at is not None
            else self._phase(h - poc_start),
            "is_confirmation_poc_active": self.faults.confirmation_poc,
            "epoch_stages": stages,
            "next_epoch_stages": nxt,
            "epoch_params": {
                "epoch_length": self.epoch_length,
                "epoch_multiplier": 1,
                "epoch_shift": 0,
                "poc_stage_duration": STAGES["poc_generation_end"],
                "poc_validation_duration": STAGES["poc_validation_end"]
                - STAGES["poc_validation_start"],
                "set_new_validators_delay": 2,
                "inference_validation_cutoff": 10,
            },
        }

    REQUESTS_PER_BLOCK = 5  # routed to our participant, in the simulated network

    def epoch_stats(self, epoch: int | None = None) -> dict:
        """Our participant's inferences and misses in an epoch, as the chain's REST API
        writes them (numbers as strings): this epoch at the fault's miss rate, a past one
        at the baseline's (1 %)."""
        current = self.epoch()["latest_epoch"]
        if epoch is None or epoch == current["index"]:
            blocks, rate = (
                self.height() - current["poc_start_block_height"] + 1,
                self.faults.miss_rate,
            )
        else:
            blocks, rate = self.epoch_length, ChainFaults.miss_rate
        requests = max(0, blocks) * self.REQUESTS_PER_BLOCK
        missed = round(requests * rate)
        return {
            "inference_count": str(requests - missed),
            "missed_requests": str(missed),
            "earned_coins": "0",
            "rewarded_coins": "0",
            "burned_coins": "0",
            "validated_inferences": str(requests - missed),
            "invalidated_inferences": "0",
        }

    def _stages(self, index: int, poc_start: int) -> dict:
        stages = {"epoch_index": index, "poc_start": poc_start}
        stages.update({k: poc_start + v for k, v in STAGES.items()})
        stages["inference_validation_cutoff"] = poc_start + self.epoch_length - 10
        stages["next_poc_start"] = poc_start + self.epoch_length
        stages["poc_exchange_window"] = {
            "start": poc_start + 1,
            "end": poc_start + STAGES["poc_generation_end"],
        }
        stages["poc_validation_exchange_window"] = {
            "start": poc_start + STAGES["poc_validation_start"],
            "end": poc_start + STAGES["poc_validation_end"],
        }
        return stages

    @staticmethod
    def _phase(offset: int) -> str:
        if offset < STAGES["poc_generation_wind_down"]:
            return "PoCGenerate"
        if offset <= STAGES["poc_generation_end"]:
            return "PoCGenerateWindDown"
        if offset < STAGES["poc_validation_wind_down"]:
            return "PoCValidate"
        if offset <= STAGES["poc_validation_end"]:
            return "PoCValidateWindDown"
        return "Inference"

    # -- participants and transactions
    def register(
        self,
        url: str,
        account_pubkey: str,
        validator_key: str | None = None,
        models: list[str] | None = None,
        long_ago: bool = False,
    ) -> Participant:
        """A participant joins the epoch after the next PoC; `long_ago`: one that joined
        before this simulation started (a deployed fleet)."""
        with self.lock:
            address = account_address(account_pubkey)
            key = validator_key or self.validator_key
            # a consensus key belongs to one participant: a new registration takes it over
            for other in [
                a for a, q in self.participants.items() if q.validator_key == key and a != address
            ]:
                del self.participants[other]
            p = self.participants.get(address)
            if p is None:
                p = Participant(
                    address,
                    url,
                    validator_key or self.validator_key,
                    account_pubkey,
                    self.height() - (10 * self.epoch_length if long_ago else 0),
                    list(models or []),
                )
                self.participants[address] = p
            p.url = url
            p.weight = 37_778
            return p

    def fund(self, address: str, amount: int) -> None:
        """Someone sent the account coins: it exists now, with sequence 0 and no key."""
        with self.lock:
            acct = self.accounts.setdefault(
                address,
                {"account_number": 1000 + len(self.accounts), "sequence": 0, "pub_key": None},
            )
            acct["balance"] = acct.get("balance", 0) + amount

    def open_account(self, address: str, pubkey: str) -> None:
        with self.lock:
            self.accounts.setdefault(
                address,
                {"account_number": 1000 + len(self.accounts), "sequence": 0, "pub_key": pubkey},
            )

    def funded_unsigned(self, address: str) -> bool:
        """The case that makes the seed's unfunded registration panic (a known bug)."""
        acct = self.accounts.get(address)
        return acct is not None and acct["sequence"] == 0 and acct["pub_key"] is None

    def signed_by(self, address: str, pubkey: str) -> None:
        """A transaction signed by the account: its key is known, its sequence advances."""
        with self.lock:
            acct = self.accounts.setdefault(
                address, {"account_number": 1000 + len(self.accounts), "sequence": 0}
            )
            acct["pub_key"], acct["sequence"] = pubkey, acct["sequence"] + 1

    def in_epoch(self, p: Participant) -> bool:
        """Active in the current epoch: joined before its PoC began, and not jailed."""
        if self.faults.jailed and p.validator_key == self.validator_key:
            return False
        return p.join_height < self.epoch()["latest_epoch"]["poc_start_block_height"]

    def tx(self, kind: str, **fields: object) -> dict:
        with self.lock:
            h = self.height() + 1  # included in the next block
            txhash = digest("tx", kind, len(self.txs), self.clock()).hex().upper()
            record = {"txhash": txhash, "height": str(h), "code": 0, "kind": kind, **fields}
            self.txs[txhash] = record
            return record

    # -- x/upgrade: an approved software upgrade's plan, and what became of it at its height
    def plan_upgrade(self, name: str, blocks: int) -> None:
        with self.lock:
            self.upgrade = {"name": name, "height": self.height() + blocks, "outcome": None}

    def cancel_upgrade(self) -> None:
        with self.lock:
            self.upgrade = None
            self.unstall()

    def reach_upgrade(self, prepared) -> str | None:
        """At the plan's height, once: the node switches to the new release where
        `prepared(name)` (its binary is in Cosmovisor's directory), else the chain halts
        there. The outcome ("upgraded", "halted"), or None before the height."""
        with self.lock:
            plan = self.upgrade
            if plan is None or plan["outcome"] or self.height() < plan["height"]:
                return None
            if prepared(plan["name"]):
                self.release, plan["outcome"] = plan["name"], "upgraded"
            else:
                self.stall()
                plan["outcome"] = "halted"
            return plan["outcome"]

    # -- governance (x/gov v1): proposals in their voting period and each voter's vote
    def propose(self, title: str, summary: str, voting_s: float) -> int:
        with self.lock:
            pid = 97 + len(self.proposals)  # after mainnet's proposal 96 (network updates)
            now = self.clock()
            self.proposals[pid] = {
                "title": title,
                "summary": summary,
                "submit": now,
                "voting_end": now + voting_s,
                "votes": {},
            }
            return pid

    def withdraw(self, pid: int) -> None:
        with self.lock:
            self.proposals.pop(pid, None)

    def vote(self, pid: int, voter: str, option: str) -> dict:
        with self.lock:
            proposal = self.proposals.get(pid)
            if proposal is None or proposal["voting_end"] < self.clock():
                raise KeyError(f"proposal {pid}: inactive proposal")
            if option not in VOTE_OPTIONS:
                raise ValueError(f"invalid vote option {option!r}")
            proposal["votes"][voter] = option
            return self.tx("vote", proposal_id=pid, voter=voter)

    def grant_ml_ops(self, granter: str, grantee: str) -> dict:
        """The authz grants for one year and, unless one exists, a fee allowance (a new
        allowance needs the old one revoked first, as on the real chain)."""
        with self.lock:
            p = self.participants.get(granter)
            if p is None:
                raise KeyError(f"account {granter} is not a registered participant")
            now = self.clock()
            p.grants[grantee] = now + YEAR_S
            kept = p.allowances.get(grantee, 0) > now  # an expired allowance is pruned
            if not kept:
                p.allowances[grantee] = now + YEAR_S
            return self.tx(
                "grant-ml-ops-permissions", granter=granter, grantee=grantee, allowance_kept=kept
            )

    def age_grants(self, granter: str, seconds: float) -> None:
        """Move a participant's grants and allowances `seconds` closer to expiry (faults)."""
        with self.lock:
            p = self.participants[granter]
            p.grants = {k: v - seconds for k, v in p.grants.items()}
            p.allowances = {k: v - seconds for k, v in p.allowances.items()}

    def ours(self) -> Participant | None:
        """The participant that registered this chain node's consensus key."""
        return next(
            (p for p in self.participants.values() if p.validator_key == self.validator_key), None
        )
