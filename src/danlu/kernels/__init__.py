"""Hot attention ops with a readable pure-torch reference beside each fast backend.

* :func:`flash_attention`: exact softmax attention by tiles (FlashAttention, arXiv:2205.14135).
* :func:`linear_attention`: kernelized attention ``φ(Q)(φ(K)^T V)`` in parallel, recurrent,
  chunked and quadratic forms (Katharopoulos et al., arXiv:2006.16236).
* :func:`selective_scan`: Mamba's selective SSM scan, sequential / chunked / triton backends
  (Gu & Dao, arXiv:2312.00752).

Tensors are (B, H, N, D) as in ``torch.nn.functional.scaled_dot_product_attention``.
"""

from __future__ import annotations

from danlu.kernels.flash_attention import FLASH_BACKENDS, flash_attention
from danlu.kernels.linear_attention import (
    FEATURE_MAPS,
    LINEAR_BACKENDS,
    LinearAttentionState,
    linear_attention,
)
from danlu.kernels.selective_scan import SCAN_BACKENDS, selective_scan

__all__ = ["FEATURE_MAPS", "FLASH_BACKENDS", "LINEAR_BACKENDS", "SCAN_BACKENDS", "LinearAttentionState",
           "flash_attention", "linear_attention", "selective_scan"]
