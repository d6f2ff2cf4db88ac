"""The kubelet: runs the pods bound to its node through a container runtime."""
