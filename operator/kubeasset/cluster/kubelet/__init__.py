"""The local kubelet: makes Pods on the local control plane run as local processes (see kubelet.py).

Volumes (volumes.py, mounted by sandbox.py in each container's private mount namespace): emptyDir,
configMap and secret volumes are per-Pod folders under ``<dir>/pod-volumes/<uid>/`` (removed with the Pod;
configMap/secret files written at container start, mounted read-only); a persistentVolumeClaim is the
folder ``<dir>/volumes/<namespace>/<claim>``, shared by every Pod using the claim and kept across Pods: the
local stand-in for a dynamically provisioned volume. The claim must exist, but the kubelet does not bind it:
no PersistentVolume is made and the claim stays Pending, since nothing here provisions volumes and a fake
Bound status would mislead. hostPath is the host path. Other kinds (projected, downwardAPI, csi) are not
mounted. Without mount namespaces (not root) no volume is mounted and a warning says so.
"""

from kubeasset.cluster.kubelet.kubelet import DEFAULT_NODE_NAME, LocalKubelet

__all__ = ["DEFAULT_NODE_NAME", "LocalKubelet"]
