"""moe_mlir: the moe dialect's routing and training ops, compiled by moe-opt
and called from Python. ``moe_mlir.torch`` holds the PyTorch interface."""

from ._compiler import CompileError  # noqa: F401
