"""Container runtimes behind the CRI-shaped interface of ``cri.py``."""
