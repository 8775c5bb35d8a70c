"""The local Kubernetes control plane for integration tests and `kubeasset cluster`: binaries, processes."""
