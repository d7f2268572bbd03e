"""Bit kernels shared by the compiled matchers."""

from __future__ import annotations

from numba import types
from numba.extending import intrinsic


@intrinsic
def popcount(typingctx, x):
    """LLVM's ``ctpop`` on a uint64 (one POPCNT instruction), callable from ``@njit`` code."""
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return sig, codegen
