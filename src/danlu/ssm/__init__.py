"""State-space models: HiPPO memory, S4D convolution and Mamba's selective scan.

* :mod:`.hippo`: HiPPO-LegS/LegT operators, online projection and reconstruction (arXiv:2008.07669);
* :mod:`.discretize`: forward/backward Euler, bilinear and ZOH discretisation;
* :mod:`.s4d`: S4D kernel (Vandermonde), FFT convolution, recurrence, layer (arXiv:2206.11893);
* :mod:`.mamba`: the Mamba block with O(1) ``step()`` decoding (arXiv:2312.00752);
* :mod:`.lm`: a tiny SSM language model (mamba or s4d mixer).

The scan itself is :func:`danlu.kernels.selective_scan`.
"""

from __future__ import annotations

from danlu.ssm.discretize import DISCRETIZATIONS, discretize
from danlu.ssm.hippo import HIPPO_MEASURES, hippo_legs, hippo_legt, online_projection, project, reconstruct
from danlu.ssm.lm import SSM_MIXERS, TinySSMConfig, TinySSMLM
from danlu.ssm.mamba import Mamba, MambaCache
from danlu.ssm.s4d import S4D, S4D_INITS, S4DKernel, fft_conv, s4d_kernel, s4d_recurrence

__all__ = ["DISCRETIZATIONS", "HIPPO_MEASURES", "S4D", "S4D_INITS", "SSM_MIXERS", "Mamba", "MambaCache", "S4DKernel",
           "TinySSMConfig", "TinySSMLM", "discretize", "fft_conv", "hippo_legs", "hippo_legt", "online_projection",
           "project", "reconstruct", "s4d_kernel", "s4d_recurrence"]
