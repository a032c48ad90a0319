"""Status sources beyond the SSH probe (issue: fleets past one operator's SSH): what the
fleet's own systems already know. Today: a Kubernetes cluster's nodes (kubernetes.py)."""
