"""Gonka's action side: its deploy, the cold and warm keys, the registration, the API's
hot patches (upgrade), the doctor, and the admin API's remedy (an ML node disabled before
a PoC)."""

from __future__ import annotations

from actions.stacks import (
    gonka,
    gonka_admin,
    gonka_doctor,
    gonka_keys,
    gonka_register,
    gonka_upgrade,
)
from actions.types import Doctor, StackActions

GONKA = StackActions(
    deploy=gonka.deploy_action,
    more={
        "keys": gonka_keys.keys_action,
        "register": gonka_register.register_action,
        "upgrade": gonka_upgrade.upgrade_action,
    },
    doctor=Doctor(gonka_doctor.diagnose, "network"),
    remedies={"disable-ml-node": gonka_admin.disable_ml_node},
)
