"""What the picture tests share: a PNG's pixel size read from its header."""

from pathlib import Path


def png_size(path: str | Path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk, after checking the PNG signature."""
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", path
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def figure_pixels(size: tuple[float, float], dpi: float) -> tuple[int, int]:
    """The pixels of a figure of ``size`` inches saved at ``dpi`` (no tight bounding box)."""
    return round(size[0] * dpi), round(size[1] * dpi)
