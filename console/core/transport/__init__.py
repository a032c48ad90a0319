"""How fleetdeck reaches a node: the SSH pool with verified host keys (ssh), forwards and
the socket pump (tunnel), HTTP over SSH (sshhttp), the Docker API over SSH (dockerremote)."""
