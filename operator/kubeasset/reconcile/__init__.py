"""Pure reconcile decisions: (resource, observed state, now) -> desired objects, status, actions. No I/O."""
