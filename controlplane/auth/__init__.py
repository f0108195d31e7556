"""Authentication material of the control plane: the cluster PKI and the kubeconfigs built from it."""
