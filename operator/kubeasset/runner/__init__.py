"""The pod-side entrypoint, ``python -m kubeasset.runner describe|execute``: it loads a code location,
reports its definitions, or runs assets and streams structured events for the controller.

It never talks to Kubernetes: everything goes through stdout, stderr, the exit code and the
termination message (docs/runner-events.md).
"""
