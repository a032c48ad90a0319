"""The fleet over time, as `fleetdeck watch` keeps it: each node's state and key signals
per minute (store.py, downsampled and bounded), and uptime against the profile's SLO
from them (uptime.py)."""
