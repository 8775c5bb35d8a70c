"""Shared pieces of the benchmark scripts in bench/: figures (percentiles and the printed report), a
throwaway cluster (control plane, CRDs, local kubelet, the controller as the Helm chart runs it) and raw
watches that timestamp events as they arrive."""
