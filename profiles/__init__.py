"""Example fleet profiles, shipped inside the package so that `fleetdeck demo` always finds
demo.toml, even where the source tree is not around."""
