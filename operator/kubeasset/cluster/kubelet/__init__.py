"""The local kubelet: makes Pods on the local control plane run as local processes (see kubelet.py)."""

from kubeasset.cluster.kubelet.kubelet import DEFAULT_NODE_NAME, LocalKubelet

__all__ = ["DEFAULT_NODE_NAME", "LocalKubelet"]
