"""Provisioning: renting GPU machines with libcloud and writing them into the profile.

clouds.py    what every cloud offers fleetdeck (machines, access rules, create, destroy)
ec2.py, gce.py, azure.py   the three clouds behind it, with what each driver cannot do
sizes.py     the GPUs a machine size carries
hostkeys.py  a new machine's SSH host key: fetched, and checked where the cloud vouches for it
action.py    the `provision` action: per planned machine instance → running → ssh → profile
inventory.py `provision list` and `destroy`: the cloud and the profile, reconciled
"""
