"""kopf handlers and Kubernetes I/O: read, call reconcile, apply the result."""
