"""The certificate controllers: approving kubelet client CSRs and signing approved CSRs."""
