"""Sizes measured the way the Workers runtime measures them.

A hibernatable WebSocket's attachment is a JavaScript string, and the platform
caps its *structured-clone* size (V8's value serializer) at 16,384 bytes, not
its UTF-8 size. For a string that is:

    2 bytes of header (0xFF and the format version)
    1 tag byte (one-byte string, or two-byte string)
    the payload's byte length as a varint (1 byte below 128, 2 below 16,384, 3 below 2**21)
    the payload: one byte per character when every character is Latin-1
                 (U+0000..U+00FF), otherwise two bytes per UTF-16 code unit
                 (so a character outside the BMP costs 4), preceded by one
                 padding byte when that keeps the payload at an even offset

So 16,384 ASCII characters measure 16,390 bytes, and 10,074 UTF-16 units with
one "€" among them measure 6 + 2 * 10,074 = 20,154 bytes.
"""

from __future__ import annotations

__all__ = ["structured_clone_size"]

_HEADER = 2  # 0xFF, version
_TAG = 1


def _varint_len(n: int) -> int:
    size = 1
    while n >= 0x80:
        n >>= 7
        size += 1
    return size


def structured_clone_size(text: str) -> int:
    """The bytes V8's structured clone takes for the JavaScript string `text`."""
    if not text or max(text) <= "\xff":
        return _HEADER + _TAG + _varint_len(len(text)) + len(text)
    byte_length = len(text.encode("utf-16-le"))
    length_bytes = _varint_len(byte_length)
    padding = (_HEADER + _TAG + length_bytes) & 1  # the two-byte payload starts at an even offset
    return _HEADER + padding + _TAG + length_bytes + byte_length
