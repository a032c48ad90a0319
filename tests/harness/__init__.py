"""Real servers for the tests: OpenSSH test hosts and a private dockerd, started by pid."""
