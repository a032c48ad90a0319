"""The simulated fleet: node sandboxes, fake node tools, chain and API emulators, faults.

Used by `fleetdeck sim`, `fleetdeck demo`, the integration tests and the benchmarks. Every
emulator speaks the real formats of reference/protocols.md.
"""
