"""What fleetdeck does to a fleet: plan → apply, step by step (engine, deploy, keys, register)."""
