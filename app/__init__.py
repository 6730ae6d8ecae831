"""Worldgate: a control plane for multi-world portfolio rebalancing."""

__all__ = ["__version__"]

__version__ = "0.1.0"
