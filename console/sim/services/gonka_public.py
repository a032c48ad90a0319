"""Gonka's public API (the network node's proxy on 8000): participants, epochs, accounts,
governance models, transactions, and every ML node's metrics."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from console.sim.chain import STATUS_CODES, rfc3339
from console.sim.http import Request, Response, Router, json_response, text_response
from console.sim.services.cometbft import cometbft_router
from console.sim.services.needs import needs

if TYPE_CHECKING:
    from console.sim.node import SimNode


class PublicApi:
    """The dapi public API as the proxy serves it on :8000 (while the api container runs),
    with the chain node's RPC behind it under /chain-rpc/; one method per endpoint."""

    def __init__(self, node: SimNode) -> None:
        assert node.chain is not None
        self.node, self.chain = node, node.chain
        # v0.2.15 answers in its own shapes (reference/gonka-0.2.15.md §3.2)
        self.v0215 = release_tuple(self.chain.release) >= (0, 2, 15)
        self._current_link: Path | None = None
        self._looked_at = float("-inf")

    def answer(self, obj, status: int = 200) -> Response:
        """A read: v0.2.15 marks those moving to the edge API with `Deprecation: true`."""
        response = json_response(obj, status)
        if self.v0215:
            response.headers = (("Deprecation", "true"),)
        return response

    def epoch(self, req: Request) -> Response:
        doc = self.chain.epoch()
        if self.v0215:  # nested once more, its integers as strings
            doc["epoch_params"] = {
                "epoch_params": {k: str(v) for k, v in doc["epoch_params"].items()}
            }
        return self.answer(doc)

    def api_release(self) -> str:
        """What the api container runs: a hot patch Cosmovisor's `current` links to, in the
        deploy directory's .dapi (found once, then followed); else the chain's release."""
        link = self._current_link
        if link is None and self.chain.clock() >= self._looked_at + 5:
            self._looked_at = self.chain.clock()
            link = next(self.node.home.glob("**/.dapi/cosmovisor/current"), None)
            self._current_link = link
        try:
            target = os.readlink(link) if link is not None else ""
        except OSError:
            target = ""
        return target.split("/")[1] if target.startswith("upgrades/") else self.chain.release

    def versions(self, req: Request) -> Response:
        release = self.api_release()
        doc = {
            "timestamp": int(self.chain.clock()),
            "api_version": release,
            "node_version": self.chain.release.split("-")[0],
        }
        if "-post" in release:  # a patched host adds its ML nodes
            doc["mlnodes"] = [
                {"id": n["id"], "version": MLNODE_VERSION} for n in self.node.admin_nodes.values()
            ]
        return self.answer(doc)

    def chain_participant(self, req: Request) -> Response:
        """x/inference's participant through the proxy's /chain-api/ (the shape of
        reference/real/gonka/tracker_test_data_87901dd: numbers as strings, this epoch's
        statistics)."""
        p = self.chain.participants.get(req.params["address"])
        if p is None:
            return json_response({"code": 5, "message": "not found", "details": []}, 404)
        ours = p is self.chain.ours()
        zero = dict.fromkeys(
            ("inference_count", "missed_requests", "earned_coins", "rewarded_coins"), "0"
        )
        return json_response(
            {
                "participant": {
                    "index": p.address,
                    "address": p.address,
                    "weight": p.weight,
                    "join_height": str(p.join_height),
                    "inference_url": p.url,
                    "status": p.status,
                    "validator_key": p.validator_key,
                    "current_epoch_stats": self.chain.epoch_stats() if ours else zero,
                }
            }
        )

    def performance_summary(self, req: Request) -> Response:
        p = self.chain.participants.get(req.params["address"])
        epoch = int(req.params["epoch"]) if req.params["epoch"].isdigit() else -1
        if p is None or p is not self.chain.ours() or epoch < 0:
            return json_response({"code": 5, "message": "not found", "details": []}, 404)
        summary = {"epoch_index": str(epoch), "participant_id": p.address}
        summary.update(self.chain.epoch_stats(epoch))
        summary["claimed"] = True
        return json_response({"epochPerformanceSummary": summary})

    def proposals(self, req: Request) -> Response:
        """x/gov v1's proposals through the proxy's /chain-api/ (Cosmos SDK 0.50's REST
        shape; `proposal_status` filters, as the real query does)."""
        wanted = req.query.get("proposal_status", "")
        now = self.chain.clock()
        listed = []
        with self.chain.lock:
            items = sorted(self.chain.proposals.items())
        for pid, p in items:
            status = (
                "PROPOSAL_STATUS_VOTING_PERIOD"
                if p["voting_end"] > now
                else "PROPOSAL_STATUS_PASSED"
            )
            if wanted and wanted not in (status, str(GOV_STATUS.index(status))):
                continue
            votes = list(p["votes"].values())
            listed.append(
                {
                    "id": str(pid),
                    "messages": [
                        {
                            "@type": "/cosmos.upgrade.v1beta1.MsgSoftwareUpgrade",
                            "authority": "gonka10d07y265gmmuvt4z0w9aw880jnsr700j2h5m33",
                            "plan": {"name": p["title"].split()[0], "height": "0", "info": ""},
                        }
                    ],
                    "status": status,
                    "final_tally_result": {
                        "yes_count": str(votes.count("VOTE_OPTION_YES")),
                        "abstain_count": str(votes.count("VOTE_OPTION_ABSTAIN")),
                        "no_count": str(votes.count("VOTE_OPTION_NO")),
                        "no_with_veto_count": str(votes.count("VOTE_OPTION_NO_WITH_VETO")),
                    },
                    "submit_time": rfc3339(p["submit"]),
                    "deposit_end_time": rfc3339(p["submit"] + 2 * 86400),
                    "total_deposit": [{"denom": "ngonka", "amount": "10000000000"}],
                    "voting_start_time": rfc3339(p["submit"]),
                    "voting_end_time": rfc3339(p["voting_end"]),
                    "metadata": "",
                    "title": p["title"],
                    "summary": p["summary"],
                    "proposer": "gonka1gov",
                    "expedited": False,
                    "failed_reason": "",
                }
            )
        return json_response(
            {"proposals": listed, "pagination": {"next_key": None, "total": str(len(listed))}}
        )

    def proposal_vote(self, req: Request) -> Response:
        pid, voter = req.params["id"], req.params["voter"]
        with self.chain.lock:
            p = self.chain.proposals.get(int(pid)) if pid.isdigit() else None
            option = p["votes"].get(voter) if p else None
        if option is None:
            why = f"vote not found for proposal {pid} and voter {voter}"
            return json_response(
                {"code": 5, "message": f"rpc error: code = NotFound desc = {why}", "details": []},
                404,
            )
        return json_response(
            {
                "vote": {
                    "proposal_id": pid,
                    "voter": voter,
                    "options": [{"option": option, "weight": "1.000000000000000000"}],
                    "metadata": "",
                }
            }
        )

    def poc_batches(self, req: Request) -> Response:
        # none are kept here: v0.2.15 says so with a 404, v0.2.14 with an empty list
        if self.v0215:
            return json_response({"message": "no poc batches for this epoch"}, 404)
        return json_response({"poc_batch": []})

    def participants(self, req: Request) -> Response:
        return json_response(
            {
                "participants": [
                    {
                        "id": p.address,
                        "url": p.url,
                        "coins_owed": 0,
                        "refunds_owed": 0,
                        "balance": 0,
                        "voting_power": p.weight,
                        "reputation": 0,
                    }
                    for p in self.chain.participants.values()
                ],
                "block_height": self.chain.height(),
            }
        )

    def participant(self, req: Request) -> Response:
        p = self.chain.participants.get(req.params["address"])
        if p is None:
            return json_response({"error": "participant not found"}, 404)
        return json_response(
            {
                "participant": {
                    "index": p.address,
                    "address": p.address,
                    "weight": p.weight,
                    "join_time": str(int(self.chain.t0 * 1000)),
                    "join_height": str(p.join_height),
                    "last_inference_time": "0",
                    "inference_url": p.url,
                    "status": p.status,
                    "coin_balance": "0",
                    "validator_key": p.validator_key,
                    "consecutive_invalid_inferences": "0",
                    "worker_public_key": "",
                    "epochs_completed": 0,
                }
            }
        )

    def participant_v2(self, req: Request) -> Response:
        """The chain's QueryGetParticipantResponse as Go's encoding/json writes the protobuf
        struct: snake_case, the status a number, zero values left out (omitempty)."""
        p = self.chain.participants.get(req.params["address"])
        if p is None:
            return json_response(
                {"message": "rpc error: code = NotFound desc = not found: key not found"}, 404
            )
        fields = {
            "index": p.address,
            "address": p.address,
            "weight": p.weight,
            "join_time": int(self.chain.t0 * 1000),
            "join_height": p.join_height,
            "inference_url": p.url,
            "status": STATUS_CODES[p.status],
            "validator_key": p.validator_key,
            "epochs_completed": max(
                0, (self.chain.height() - p.join_height) // self.chain.epoch_length
            ),
        }
        return json_response({"participant": {k: v for k, v in fields.items() if v}})

    def account_v2(self, req: Request) -> Response:
        p = self.chain.participants.get(req.params["address"])
        if p is None:
            return json_response({"message": "account not found"}, 404)
        return json_response({"pubkey": p.account_pubkey, "balance": p.balance, "denom": "ngonka"})

    def auth_account(self, req: Request) -> Response:
        """The Cosmos REST answer for x/auth's account (the proxy's /self.chain-api/)."""
        address = req.params["address"]
        acct = self.chain.accounts.get(address)
        if acct is None:
            return json_response(
                {
                    "code": 5,
                    "message": f"account {address} not found: key not found",
                    "details": [],
                },
                404,
            )
        pub = acct.get("pub_key")
        return json_response(
            {
                "account": {
                    "@type": "/cosmos.auth.v1beta1.BaseAccount",
                    "address": address,
                    "pub_key": {"@type": "/cosmos.crypto.secp256k1.PubKey", "key": pub}
                    if pub
                    else None,
                    "account_number": str(acct["account_number"]),
                    "sequence": str(acct["sequence"]),
                }
            }
        )

    def governance_models(self, req: Request) -> Response:
        return json_response(
            {"models": [{"id": m, "proposed_by": "gonka1gov"} for m in self.node.approved_models()]}
        )

    def submit(self, req: Request) -> Response:
        body = req.json() or {}
        if self.chain.funded_unsigned(str(body.get("address", ""))):
            # MsgSubmitNewUnfundedParticipant on an account that exists, sequence 0
            return json_response(
                {
                    "error": "panic: runtime error: invalid memory address or nil pointer "
                    "dereference [signal SIGSEGV: segmentation violation]"
                },
                500,
            )
        try:
            p = self.chain.register(
                body["url"], body["pub_key"], body.get("validator_key"), body.get("models")
            )
        except (KeyError, TypeError, ValueError) as exc:
            return json_response({"error": f"invalid participant: {exc}"}, 400)
        self.chain.open_account(p.address, body["pub_key"])  # the unfunded path makes it
        return json_response({"address": p.address, "url": p.url})

    def epoch_participants(self, req: Request) -> Response:
        epoch = self.chain.epoch()
        active = [p for p in self.chain.participants.values() if self.chain.in_epoch(p)]
        n = str if self.v0215 else int  # v0.2.15 writes these numbers as strings
        return self.answer(
            {
                "active_participants": {
                    "participants": [
                        {
                            "index": p.address,
                            "validator_key": p.validator_key,
                            "weight": n(p.weight),
                            "inference_url": p.url,
                            "models": p.models,
                            "seed": {
                                "participant": p.address,
                                "epoch_index": epoch["latest_epoch"]["index"],
                                "signature": "",
                            },
                            "ml_nodes": [
                                {
                                    "ml_nodes": [
                                        {
                                            "node_id": n["id"],
                                            "poc_weight": 2300,
                                            "timeslot_allocation": [True, False],
                                        }
                                        for n in self.node.admin_nodes.values()
                                    ]
                                }
                            ],
                        }
                        for p in active
                    ],
                    "epoch_group_id": n(epoch["latest_epoch"]["index"]),
                    "poc_start_block_height": n(epoch["latest_epoch"]["poc_start_block_height"]),
                    "effective_block_height": n(
                        epoch["latest_epoch"]["poc_start_block_height"] + 2
                    ),
                    "created_at_block_height": n(epoch["latest_epoch"]["poc_start_block_height"]),
                    "epoch_id": n(epoch["latest_epoch"]["index"]),
                },
                "addresses": [p.address for p in active],
                "validators": [
                    {"address": a, "pub_key": k, "voting_power": v, "proposer_priority": 0}
                    for a, k, v in self.chain.validators()
                ],
            }
        )

    def mlnode_metrics(self, req: Request) -> Response:
        return text_response(
            mlnode_metrics_text(self.node), content_type="text/plain; version=0.0.4; charset=utf-8"
        )

    def router(self) -> Router:
        def api(handler):  # the api container's endpoints: the proxy's 502 while it is down
            return needs(self.node, "api", handler)

        r = Router()
        r.add(
            "GET",
            "/v1/status",
            api(lambda req: json_response({"status": "ok"})),
        )
        r.add("GET", "/health", lambda req: text_response("OK"))
        r.add("GET", "/v1/mlnodes/metrics", api(self.mlnode_metrics))
        r.add("GET", "/v1/participants", api(self.participants))
        r.add("POST", "/v1/participants", api(self.submit))
        r.add("GET", "/v1/participants/:address", api(self.participant))
        r.add("GET", "/v2/participants/:address", api(self.participant_v2))
        r.add("GET", "/v2/accounts/:address", api(self.account_v2))
        r.add("GET", "/v1/governance/models", api(self.governance_models))
        r.add(
            "GET",
            "/chain-api/cosmos/auth/v1beta1/accounts/:address",
            api(self.auth_account),
        )
        r.add("GET", "/v1/epochs/latest", api(self.epoch))
        r.add("GET", "/v1/versions", api(self.versions))
        r.add("GET", "/chain-api/cosmos/gov/v1/proposals", api(self.proposals))
        r.add("GET", "/chain-api/cosmos/gov/v1/proposals/:id/votes/:voter", api(self.proposal_vote))
        inference = "/chain-api/productscience/inference/inference"
        r.add("GET", f"{inference}/participant/:address", api(self.chain_participant))
        r.add(
            "GET",
            f"{inference}/epoch_performance_summary/:epoch/:address",
            api(self.performance_summary),
        )
        r.add("GET", "/v1/poc-batches/:epoch", api(self.poc_batches))
        r.add(
            "GET",
            "/v1/epochs/current/participants",
            api(self.epoch_participants),
        )
        rpc = cometbft_router(self.node)
        for method, regex, handler in rpc.routes:
            pattern = "/chain-rpc" + regex.pattern[1:-1]
            r.add(
                method,
                pattern.rstrip("/") + "/?" if method == "POST" else pattern,
                needs(self.node, "node", handler),
            )
        return r


GOV_STATUS = (  # x/gov v1's ProposalStatus, by number
    "PROPOSAL_STATUS_UNSPECIFIED",
    "PROPOSAL_STATUS_DEPOSIT_PERIOD",
    "PROPOSAL_STATUS_VOTING_PERIOD",
    "PROPOSAL_STATUS_PASSED",
    "PROPOSAL_STATUS_REJECTED",
    "PROPOSAL_STATUS_FAILED",
)
MLNODE_VERSION = "3.0.16"  # the ML node image of the v0.2.15 era (network-updates, Aug 14)


def release_tuple(release: str) -> tuple[int, ...]:
    """ "v0.2.15-post5" -> (0, 2, 15)."""
    core = release.lstrip("v").split("-")[0]
    return tuple(int(x) for x in core.split(".") if x.isdigit())


def public_router(node: SimNode) -> Router:
    return PublicApi(node).router()


# the families of /v1/mlnodes/metrics this simulator serves (reference/operations.md §6)
MLNODE_FAMILIES = (
    ("mlnode_up", "gauge", "Whether the ML node's metrics were read (1) or not (0)."),
    ("mlnode_gpu_temp_core_celsius", "gauge", "GPU core temperature."),
    ("mlnode_gpu_power_draw_watts", "gauge", "GPU power draw."),
    ("mlnode_gpu_memory_used_bytes", "gauge", "GPU memory used."),
    ("mlnode_gpu_ecc_dbe_total", "counter", "Double-bit ECC errors."),
    ("mlnode_gpu_xid_events_total", "counter", "Xid events by GPU and Xid."),
)


def mlnode_metrics_text(node: SimNode) -> str:
    """What the network node's dapi federates from its registered ML nodes: each one's
    `mlnode_up` and, while it is up, its GPUs (labels node_id, gpu_index[, xid])."""
    rows: dict[str, list[str]] = {name: [] for name, _, _ in MLNODE_FAMILIES}
    for entry in node.admin_nodes.values():
        own = entry["host"] == "inference"
        ml = node if own else node.fleet.node_by_host(entry["host"]) if node.fleet else None
        nid = entry["id"]
        up = ml is not None and ml.containers.healthy("mlnode-308")
        rows["mlnode_up"].append(f'mlnode_up{{node_id="{nid}"}} {int(up)}')
        if not up:
            continue
        snap = ml.gpu_snapshot()
        for g in snap.visible:
            lab = f'node_id="{nid}",gpu_index="{g.index}"'
            rows["mlnode_gpu_temp_core_celsius"].append(
                f"mlnode_gpu_temp_core_celsius{{{lab}}} {g.temperature}"
            )
            rows["mlnode_gpu_power_draw_watts"].append(
                f"mlnode_gpu_power_draw_watts{{{lab}}} {g.power_draw_w}"
            )
            rows["mlnode_gpu_memory_used_bytes"].append(
                f"mlnode_gpu_memory_used_bytes{{{lab}}} {g.memory_used_mib * 1024 * 1024}"
            )
            rows["mlnode_gpu_ecc_dbe_total"].append(
                f"mlnode_gpu_ecc_dbe_total{{{lab}}} {g.ecc_uncorrected_volatile}"
            )
        counts: dict[tuple[int, int], int] = {}
        for _, index, xid in snap.xid_events:
            counts[(index, xid)] = counts.get((index, xid), 0) + 1
        for (index, xid), n in sorted(counts.items()):
            lab = f'node_id="{nid}",gpu_index="{index}",xid="{xid}"'
            rows["mlnode_gpu_xid_events_total"].append(f"mlnode_gpu_xid_events_total{{{lab}}} {n}")
    out = []
    for name, kind, text in MLNODE_FAMILIES:
        out += [f"# HELP {name} {text}", f"# TYPE {name} {kind}", *rows[name]]
    return "\n".join(out) + "\n"
