"""Decode exported files whatever their encoding: UTF-8 (BOM or not), GB18030/GBK, Big5."""

from __future__ import annotations

from charset_normalizer import from_bytes

# Chinese exports are almost always one of these; trying them first avoids charset-normalizer
# guessing a Cyrillic or Latin code page for short files.
_PREFERRED = ("utf-8", "gb18030", "big5")


class UnknownEncoding(ValueError):
    pass


def _cjk_share(text: str) -> float:
    cjk = sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff")
    return cjk / max(1, sum(1 for ch in text if not ch.isspace() and not ch.isascii()))


def decode_bytes(data: bytes) -> tuple[str, str]:
    """Return (text, encoding name)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8"), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), "utf-16"
    candidates = []
    for encoding in _PREFERRED:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if encoding == "utf-8":
            return text, encoding
        candidates.append((text, encoding))
    if len(candidates) == 2:
        # Bytes valid in both GB18030 and Big5: the reading with more common characters wins.
        best = from_bytes(data, cp_isolation=["gb18030", "big5"]).best()
        if best is not None:
            return str(best), best.encoding
        candidates.sort(key=lambda c: _cjk_share(c[0]), reverse=True)
    if candidates:
        return candidates[0]
    best = from_bytes(data).best()
    if best is None:
        raise UnknownEncoding("unknown text encoding (not UTF-8, GB18030/GBK or Big5)")
    return str(best), best.encoding
