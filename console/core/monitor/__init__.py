"""Collectors that keep FleetState live (probe stream, chain, endpoints) and alert rules."""
