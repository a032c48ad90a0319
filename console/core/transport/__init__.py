"""How fleetdeck reaches a node: the SSH pool with verified host keys (ssh) over paramiko's
transport as fleetdeck runs it (sshtransport), forwards and the socket pump (tunnel), HTTP
over SSH (sshhttp), the Docker API over SSH (dockerremote)."""
