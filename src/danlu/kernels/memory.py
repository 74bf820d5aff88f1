"""Count the bytes of tensors torch allocates inside a block: peak live bytes and the largest tensor.

CPU has no ``torch.cuda.max_memory_allocated``; this tracker gives the same number on any
device, deterministically, by watching every op's outputs through a
``TorchDispatchMode``: a new storage adds its bytes, and its bytes are released when the last
tensor seen on it is freed. Inputs created before the block are not counted. Used by the
tests ("the flash reference never allocates an (Nq, Nk) tensor"), the att-complexity card and
``benchmarks/attention_cpu.py``.

    >>> import torch
    >>> with TensorMemoryTracker() as mem:
    ...     x = torch.ones(1000, dtype=torch.float64) * 2
    >>> mem.peak_bytes >= 8000, mem.largest_numel
    (True, 1000)
"""

from __future__ import annotations

import weakref
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten


class TensorMemoryTracker(TorchDispatchMode):
    """Context manager recording ``peak_bytes``, ``current_bytes`` and ``largest_numel`` of new tensors."""

    def __init__(self) -> None:
        super().__init__()
        self.peak_bytes = 0
        self.current_bytes = 0
        self.largest_numel = 0
        self.largest_shape: tuple[int, ...] = ()
        self._refs: dict[int, int] = {}   # storage data_ptr -> number of live tensors seen on it
        self._sizes: dict[int, int] = {}  # storage data_ptr -> bytes

    def _release(self, key: int) -> None:
        self._refs[key] -= 1
        if self._refs[key] == 0:
            del self._refs[key]
            self.current_bytes -= self._sizes.pop(key)

    def _track(self, t: torch.Tensor) -> None:
        if t.numel() > self.largest_numel:
            self.largest_numel, self.largest_shape = t.numel(), tuple(t.shape)
        st = t.untyped_storage()
        key, nbytes = st.data_ptr(), st.nbytes()
        if nbytes == 0:
            return
        if key not in self._refs:
            self._refs[key] = 0
            self._sizes[key] = nbytes
            self.current_bytes += nbytes
            self.peak_bytes = max(self.peak_bytes, self.current_bytes)
        self._refs[key] += 1
        weakref.finalize(t, self._release, key)

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor) and not t.is_meta:
                self._track(t)
        return out
