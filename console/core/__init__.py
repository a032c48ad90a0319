"""The core: what every floor above stands on. The profile (its schema, rules and
document), the transport to the nodes (transport/), the status pipeline (monitor/,
sources/), the stack registry (stacks/), the journal, secrets and text made safe. It
imports nothing from the floors above (console.app, screens, actions) nor the simulator."""
