"""CRC32C and TFRecord's masked CRC (the checksum in every record frame).

TFRecord stores ``masked_crc32c(x) = (((crc >> 15) | (crc << 17)) + 0xa282ead8) mod 2**32`` of the
8 length bytes and of the data (``tensorflow/core/lib/hash/crc32c.h``: "it is problematic to
compute the CRC of a string that contains embedded CRCs", hence the mask). The CRC itself is
CRC-32C (Castagnoli), computed by ``google-crc32c`` (hardware-accelerated C extension).

    >>> hex(crc32c(b"123456789"))          # the standard CRC-32C check value
    '0xe3069283'
    >>> unmask_crc(masked_crc32c(b"abc")) == crc32c(b"abc")
    True
"""

from __future__ import annotations

import google_crc32c

MASK_DELTA = 0xA282EAD8
_M32 = 0xFFFFFFFF
#: The C function itself (no Python wrapper call), for the reader's hot loop; needs read-only bytes.
crc32c_value = google_crc32c.value


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli) of ``data`` as an unsigned 32-bit int."""
    return google_crc32c.value(data)


def mask_crc(crc: int) -> int:
    """TFRecord's mask: rotate right by 15 bits and add ``0xa282ead8`` (mod 2**32)."""
    return ((((crc >> 15) | (crc << 17)) & _M32) + MASK_DELTA) & _M32


def unmask_crc(masked: int) -> int:
    """Inverse of :func:`mask_crc`."""
    rot = (masked - MASK_DELTA) & _M32
    return ((rot >> 17) | (rot << 15)) & _M32


def masked_crc32c(data: bytes) -> int:
    """The masked CRC-32C that TFRecord stores after the length and after the data."""
    return mask_crc(crc32c(data))
