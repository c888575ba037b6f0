"""Arrow string plumbing shared by the checks: delivered values as text, NFKC normalisation,
and fixed-width byte views that let numpy check millions of identifiers at once.

Everything here is vectorised; the only per-row Python is in callers that format reasons for
the few rows that fail.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

Bytes = npt.NDArray[np.uint8]
Mask = npt.NDArray[np.bool_]

_NULL_TEXT = pa.scalar(None, pa.string())
# Integral floats beyond 2^53 are not exact, so they keep their float spelling.
_EXACT_FLOAT = float(2**53)


def as_text(values: pa.Array) -> pa.Array:
    """The delivered values as text: what a steward would see in the file.

    Integral floats print as integers (XLSX stores 13812341234 as a float), NaN is missing,
    booleans print as true/false, dates as ISO 8601.
    """
    kind = values.type
    if pa.types.is_null(kind):
        return pa.nulls(len(values), pa.string())
    if pa.types.is_dictionary(kind):
        return as_text(values.dictionary_decode())
    if pa.types.is_floating(kind):
        values = pc.if_else(pc.is_nan(values), pa.scalar(None, kind), values)
        integral = pc.and_(
            pc.equal(pc.floor(values), values), pc.less(pc.abs(values), _EXACT_FLOAT)
        )
        whole = pc.if_else(integral, values, pa.scalar(None, kind)).cast(pa.int64())
        return pc.if_else(integral, whole.cast(pa.string()), values.cast(pa.string()))
    if pa.types.is_boolean(kind):
        return pc.if_else(values, "true", "false")
    return values.cast(pa.string())


def normalise(values: pa.Array) -> pa.Array:
    """NFKC (full-width digits and letters become ASCII, the ideographic space a space),
    surrounding whitespace stripped, empty text as null."""
    text = as_text(values)
    if not pc.all(pc.string_is_ascii(text)).as_py():
        text = pc.utf8_normalize(text, "NFKC")
    text = pc.utf8_trim_whitespace(text)
    return pc.if_else(pc.greater(pc.binary_length(text), 0), text, _NULL_TEXT)


def squeeze(values: pa.Array, wanted: Mask, pattern: str = r"\s+") -> pa.Array:
    """Remove `pattern` (inner spaces, hyphens) from the rows not already of a wanted length.

    Only those rows pay for the regular expression; a well-formed identifier has nothing to
    remove.
    """
    others = pa.array(~wanted & valid_mask(values))
    if not pc.any(others).as_py():
        return values
    cleaned = pc.replace_substring_regex(values.filter(others), pattern, "")
    return pc.replace_with_mask(values, others, cleaned)


def byte_lengths(values: pa.Array) -> npt.NDArray[np.int64]:
    """Byte length per row; 0 for nulls."""
    lengths = pc.fill_null(pc.binary_length(values), 0)
    return np.asarray(lengths.to_numpy(zero_copy_only=False), dtype=np.int64)


def char_lengths(values: pa.Array) -> npt.NDArray[np.int64]:
    """Character length per row (for messages); 0 for nulls."""
    lengths = pc.fill_null(pc.utf8_length(values), 0)
    return np.asarray(lengths.to_numpy(zero_copy_only=False), dtype=np.int64)


def byte_matrix(values: pa.Array, width: int, rows: Mask) -> Bytes:
    """An (n, width) uint8 matrix of the rows selected by `rows` (each exactly `width` bytes
    long); other rows are zeros. A copy-free view of Arrow's fixed-size-binary buffer."""
    if not rows.any():
        return np.zeros((len(values), width), dtype=np.uint8)
    selected = pc.if_else(pa.array(rows), values, _NULL_TEXT).cast(pa.binary(width))
    data = selected.buffers()[1]
    n = len(selected)
    if data is None or n == 0:
        return np.zeros((n, width), dtype=np.uint8)
    flat = np.frombuffer(data, dtype=np.uint8)
    start = selected.offset * width
    return flat[start : start + n * width].reshape(n, width)


def strings_from_matrix(matrix: Bytes, rows: Mask) -> pa.Array:
    """A string array of the matrix rows selected by `rows`; null elsewhere."""
    n, width = matrix.shape
    validity = pa.py_buffer(np.packbits(rows, bitorder="little").tobytes())
    data = pa.py_buffer(np.ascontiguousarray(matrix).tobytes())
    fixed = pa.Array.from_buffers(pa.binary(width), n, [validity, data])
    return fixed.cast(pa.string())


def is_digit(matrix: Bytes) -> Mask:
    """Elementwise: is the byte an ASCII digit."""
    result: Mask = (matrix >= ord("0")) & (matrix <= ord("9"))
    return result


def digits_value(matrix: Bytes) -> npt.NDArray[np.int32]:
    """The decimal number spelled by each row's ASCII digits (garbage where not digits);
    at most 9 columns, so int32 holds it and date arithmetic stays narrow."""
    powers = 10 ** np.arange(matrix.shape[1] - 1, -1, -1, dtype=np.int32)
    total: npt.NDArray[np.int32] = np.einsum("ij,j->i", matrix, powers, dtype=np.int32)
    return total - np.int32(ord("0") * int(powers.sum()))


def valid_mask(values: pa.Array) -> Mask:
    """True where the value is present."""
    return np.asarray(pc.is_valid(values).to_numpy(zero_copy_only=False), dtype=bool)
