"""Reading what the chain, the API and the CLI say about a participant, in every shape a
supported Gonka release writes."""

from __future__ import annotations

import json

from console.core.stacks.gonka_chain import parse_key, parse_participant, setup_checks

ADDRESS = "gonka1qyqszqgpqyqszqgpqyqszqgpqyqszqgpjnp7du"


def test_the_v2_shape_snake_case_with_a_numeric_status():
    # Go's JSON of the protobuf struct (v0.2.12+): zero values are left out
    doc = {
        "participant": {
            "index": ADDRESS,
            "address": ADDRESS,
            "weight": 37778,
            "join_height": 873301,
            "inference_url": "http://node1.example.com:8000",
            "status": 1,
            "validator_key": "x+OH2yt/GC/zK/fR5ImKnlfrmE6nZO/11FKXOpWRmAA=",
        }
    }
    p = parse_participant(doc)
    assert p is not None
    assert (p.address, p.status, p.url, p.weight, p.join_height) == (
        ADDRESS,
        "ACTIVE",
        "http://node1.example.com:8000",
        37778,
        873301,
    )


def test_the_camel_case_shape_with_a_status_string():
    doc = {
        "participant": {
            "address": ADDRESS,
            "inferenceUrl": "http://node1.example.com:8000",
            "status": "PARTICIPANT_STATUS_UNCONFIRMED",
            "validatorKey": "k",
        }
    }
    p = parse_participant(doc)
    assert p is not None and (p.status, p.url, p.validator_key) == (
        "UNCONFIRMED",
        "http://node1.example.com:8000",
        "k",
    )
    assert p.weight == 0  # omitted: zero


def test_no_participant_in_an_error_or_an_empty_answer():
    assert parse_participant({"message": "rpc error: code = NotFound desc = not found"}) is None
    assert parse_participant({"participant": {}}) is None
    assert parse_participant("not json") is None


def test_a_key_from_keys_show_and_a_new_key_with_its_mnemonic():
    shown = json.dumps(
        {
            "name": "gonka-account-key",
            "type": "local",
            "address": ADDRESS,
            "pubkey": '{"@type":"/cosmos.crypto.secp256k1.PubKey","key":"Au+a3Cp"}',
        }
    )
    key, mnemonic = parse_key(shown)
    assert (key.name, key.address, key.pubkey, mnemonic) == (
        "gonka-account-key",
        ADDRESS,
        "Au+a3Cp",
        None,
    )
    made = json.loads(shown) | {"mnemonic": "abandon ability able"}
    assert parse_key("some warning\n" + json.dumps(made))[1] == "abandon ability able"


def test_setup_checks_keep_ids_statuses_and_details():
    report = {
        "overall_status": "FAIL",
        "checks": [
            {
                "id": "permissions_granted",
                "status": "FAIL",
                "message": "Missing 20 of 20",
                "details": {"missing": 20},
            },
            {"id": "block_sync", "status": "PASS", "message": "Chain is synced."},
            "garbage",
        ],
    }
    checks = setup_checks(report)
    assert [(c.id, c.status) for c in checks] == [
        ("permissions_granted", "FAIL"),
        ("block_sync", "PASS"),
    ]
    assert checks[0].details == {"missing": 20} and checks[1].details == {}
