"""Gonka's public API read in both releases' shapes (issue 31): the real v0.2.14 answers
the reference keeps (read in place), and v0.2.15's as its maintainers' memo describes
them (reference/gonka-0.2.15.md §3.2): nested epoch params, numbers as strings,
`/v1/versions` with and without `mlnodes`, a 404 for no PoC batches."""

from __future__ import annotations

import json

import pytest

from console.core.stacks.gonka_api import (
    ApiShapeError,
    number,
    poc_hold,
    read_epoch,
    read_epoch_participants,
    read_epoch_stats,
    read_versions,
)

EPOCH_0214 = {
    "block_height": 887711,
    "latest_epoch": {"index": 56, "poc_start_block_height": 887041},
    "phase": "Inference",
    "epoch_stages": {"epoch_index": 56, "poc_start": 887041},
    "next_epoch_stages": {"epoch_index": 57, "poc_start": 927361},
    "epoch_params": {"epoch_length": 40320, "epoch_multiplier": 1},
}


def v0215(doc: dict) -> dict:
    """The same epoch as v0.2.15 writes it."""
    out = dict(doc)
    out["epoch_params"] = {"epoch_params": {k: str(v) for k, v in doc["epoch_params"].items()}}
    return out


@pytest.mark.parametrize("shape", ["v0.2.14", "v0.2.15", "v0.2.15 no cpoc field"])
def test_the_latest_epoch_reads_the_same_in_both_shapes(shape):
    doc = EPOCH_0214 if shape == "v0.2.14" else v0215(EPOCH_0214)
    if shape == "v0.2.15":
        doc["is_confirmation_poc_active"] = False
        doc["active_confirmation_poc_event"] = None
    epoch = read_epoch(doc)
    assert (epoch.index, epoch.phase, epoch.block_height) == (56, "Inference", 887711)
    assert (epoch.poc_start, epoch.next_poc_start, epoch.epoch_length) == (887041, 927361, 40320)
    assert not epoch.confirmation_poc and poc_hold(epoch.phase, False, 1, 2, "c1") is None
    assert epoch.blocks_to_poc == 927361 - 887711
    assert epoch.window_at == 927361 - 500


def test_poc_and_confirmation_poc_are_the_time_to_change_nothing():
    validating = read_epoch(dict(EPOCH_0214, phase="PoCValidate"))
    assert poc_hold(validating.phase, validating.confirmation_poc, 1, None, "c1")
    cpoc = dict(v0215(EPOCH_0214), is_confirmation_poc_active=True)
    assert read_epoch(cpoc).confirmation_poc
    # inside the 500 blocks before the PoC the window is open now
    near = dict(EPOCH_0214, block_height=927361 - 200)
    assert read_epoch(near).window_at < near["block_height"]


def test_an_epoch_of_neither_shape_says_what_is_missing():
    with pytest.raises(ApiShapeError, match="latest_epoch.index"):
        read_epoch({"phase": "Inference", "block_height": 1})
    with pytest.raises(ApiShapeError, match="block_height is not a number"):
        read_epoch(dict(EPOCH_0214, block_height="soon"))


def test_the_real_participants_answer_and_its_v0215_strings(reference):
    path = reference / "real/gonka/tracker_test_data_87901dd/current_epoch_participants.json"
    doc = json.loads(path.read_text())
    first = doc["active_participants"]["participants"][0]
    real = read_epoch_participants(doc)
    assert real.participants[0].index == first["index"]
    assert real.participants[0].weight == first["weight"] == 37778
    assert real.participants[0].models == tuple(first["models"])
    # v0.2.15: the same numbers as strings, an empty model list left out
    active = dict(doc["active_participants"])
    active["participants"] = [
        {k: (str(v) if isinstance(v, int) else v) for k, v in p.items() if k != "models"}
        for p in active["participants"]
    ]
    for key in ("epoch_id", "poc_start_block_height", "epoch_group_id"):
        if key in active:
            active[key] = str(active[key])
    strings = read_epoch_participants(dict(doc, active_participants=active))
    assert [p.weight for p in strings.participants] == [p.weight for p in real.participants]
    assert strings.epoch_id == real.epoch_id and strings.poc_start == real.poc_start
    assert strings.by_address(first["index"]).models == ()
    assert strings.by_validator_key(first["validator_key"]).index == first["index"]


def test_versions_of_a_patched_and_an_unpatched_host():
    plain = read_versions({"timestamp": 1, "api_version": "v0.2.15", "node_version": "v0.2.15"})
    assert (plain.api, plain.node, plain.mlnodes) == ("v0.2.15", "v0.2.15", None)
    patched = read_versions(
        {
            "timestamp": 1,
            "api_version": "v0.2.15-post5",
            "node_version": "v0.2.15",
            "mlnodes": [{"id": "node1", "version": "3.0.16"}],
        }
    )
    assert patched.api == "v0.2.15-post5" and patched.mlnodes == (("node1", "3.0.16"),)
    with pytest.raises(ApiShapeError):
        read_versions({"status": "ok"})


def test_the_real_epoch_stats_of_a_participant_and_a_past_epoch(reference):
    data = reference / "real/gonka/tracker_test_data_87901dd"
    summary = read_epoch_stats(
        json.loads((data / "epoch_performance_summary_56_gonka14cu38x.json").read_text())
    )
    assert (summary.epoch, summary.inferences, summary.missed) == (56, 1106, 1)
    assert summary.miss_rate == pytest.approx(1 / 1107)
    listed = json.loads((data / "all_participants_height_887711.json").read_text())
    first = read_epoch_stats({"participant": listed["participant"][0]})
    assert first.requests == 0 and first.miss_rate is None  # nothing asked yet: no rate


def test_numbers_in_either_spelling_and_nothing_else():
    assert [number(v) for v in (5, "5", " 7 ", "-1")] == [5, 5, 7, -1]
    assert [number(v) for v in (True, None, "x", 1.5, [])] == [None] * 5


def test_a_change_waits_while_poc_or_confirmation_poc_runs_saying_when_the_window_opens():
    from console.core.stacks.gonka_api import poc_hold

    assert poc_hold("Inference", False, 1000, 1400, "c1") is None
    assert poc_hold("Inference", None, 1000, None, "c1") is None  # an older API: no field
    held = poc_hold("PoCValidate", False, 1000, 1400, "c1")
    assert held == (
        "PoC runs (PoCValidate) on cluster c1: a restart now can cost the epoch's weight; "
        "the window before the next PoC opens at block 1400 (400 blocks from now)"
    )
    cpoc = poc_hold("Inference", True, 1000, None, "c2")
    assert cpoc == (
        "a confirmation PoC runs on cluster c2: a restart now can cost the epoch's weight; "
        "wait until it ends"
    )
    # a window that would already be open (a short epoch's arithmetic) is not offered
    assert poc_hold("PoCGenerate", False, 1000, 900, "c1").endswith("; wait until it ends")


def test_proposals_and_votes_as_x_gov_v1_writes_them():
    from console.core.stacks.gonka_api import read_proposals, read_vote

    doc = {
        "proposals": [
            {
                "id": "97",
                "messages": [{"@type": "/cosmos.upgrade.v1beta1.MsgSoftwareUpgrade"}],
                "status": "PROPOSAL_STATUS_VOTING_PERIOD",
                "voting_end_time": "2026-12-07T14:00:00.123456789Z",
                "title": "v0.2.16 software upgrade",
                "expedited": True,
            },
            {"proposal_id": "12", "content": {"title": "an old one"}, "status": "x"},
            {"title": "no id: skipped"},
        ],
        "pagination": {"next_key": None, "total": "3"},
    }
    upgrade, old = read_proposals(doc)
    assert (upgrade.id, upgrade.status, upgrade.kinds) == (
        97,
        "VOTING_PERIOD",
        ("MsgSoftwareUpgrade",),
    )
    assert upgrade.expedited and upgrade.voting_end == pytest.approx(1796652000.123456)
    assert (old.id, old.title, old.voting_end) == (12, "an old one", None)
    with pytest.raises(ApiShapeError):
        read_proposals({"proposal": []})
    vote = {"vote": {"options": [{"option": "VOTE_OPTION_NO_WITH_VETO", "weight": "1.0"}]}}
    assert read_vote(200, vote) == "no_with_veto"
    assert read_vote(404, {"code": 5, "message": "rpc error: code = NotFound"}) is None
    with pytest.raises(ApiShapeError, match="500"):
        read_vote(500, None)


def test_releases_and_their_patches_in_order():
    from console.core.state import release_key

    order = ["v0.2.9", "v0.2.14", "v0.2.15", "v0.2.15-post3", "v0.2.15-post5", "v0.2.16"]
    assert sorted(reversed(order), key=release_key) == order


def test_a_finished_epochs_summary_is_asked_once():
    from console.core.stacks import gonka_status

    asked = []

    class Http:
        def json(self, port, path, host="127.0.0.1"):
            asked.append(path)
            stats = {"inference_count": "90", "missed_requests": "10"}
            if "epoch_performance_summary" in path:
                return {"epochPerformanceSummary": dict(stats, epoch_index="6")}
            return {"participant": {"current_epoch_stats": stats}}

    gonka_status._LAST_EPOCH.clear()
    for _ in range(3):
        got = gonka_status.epoch_misses(Http(), 8000, "gonka1abc", 7)
    assert got == {
        "inferences": 90,
        "missed": 10,
        "last_epoch_inferences": 90,
        "last_epoch_missed": 10,
    }
    assert sum("epoch_performance_summary/6/gonka1abc" in p for p in asked) == 1
    assert sum(p.endswith("/participant/gonka1abc") for p in asked) == 3  # this epoch: live


def test_the_window_check_asks_again_when_the_network_nodes_connection_was_cut(monkeypatch):
    """Another node's step asks the network node for the epoch over that node's connection,
    which the network node's own retry may renew mid-question: asked once more, the hold
    is still seen (a PoC is not missed for a renewed connection)."""
    from types import SimpleNamespace

    from actions.stacks import gonka_window
    from console.core.transport.ssh import ConnectionLost

    network = SimpleNamespace(role="network", name="net")
    ctx = SimpleNamespace(
        node=network,
        cluster=SimpleNamespace(nodes=[network], name="c1"),
        settings=SimpleNamespace(api_port=9000),
    )
    answers = [ConnectionLost("net", "cut"), (200, dict(EPOCH_0214, phase="PoCGenerate"))]

    def node_json(there, url):
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(gonka_window, "node_json", node_json)
    epoch = gonka_window.epoch_now(ctx)
    assert epoch is not None and epoch.phase == "PoCGenerate" and answers == []
