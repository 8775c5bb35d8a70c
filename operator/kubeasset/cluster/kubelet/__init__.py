"""The local kubelet: makes Pods on the local control plane run as local processes (see kubelet.py).

Volumes (volumes.py, mounted by sandbox.py in each container's private mount namespace): emptyDir,
configMap, secret, downwardAPI and projected volumes are per-Pod folders under ``<dir>/pod-volumes/<uid>/``
(removed with the Pod; written files are mounted read-only and rewritten atomically while the container
runs); a persistentVolumeClaim is the folder ``<dir>/volumes/<namespace>/<claim>``, shared by every Pod
using the claim and kept across Pods: the local stand-in for a dynamically provisioned volume. The claim
must exist, but the kubelet does not bind it: no PersistentVolume is made and the claim stays Pending, since
nothing here provisions volumes and a fake Bound status would mislead. hostPath is the host path. Other
kinds (csi, ephemeral) are not mounted. Without mount namespaces (not root) no volume is mounted and a
warning says so.

In-cluster access works as in a cluster: the kube-api-access-* volume the ServiceAccount admission plugin
adds holds a token for the Pod's ServiceAccount from the TokenRequest API (bound to the Pod, renewed at 80%
of its lifetime, tokens.py), the cluster's ca.crt and the namespace, and every container gets
KUBERNETES_SERVICE_HOST/PORT pointing at the API server (on loopback), so
``kubernetes.config.load_incluster_config()`` works in a Pod.
"""

from kubeasset.cluster.kubelet.kubelet import DEFAULT_NODE_NAME, LocalKubelet

__all__ = ["DEFAULT_NODE_NAME", "LocalKubelet"]
