"""People's text made safe to print: no byte of it can steer the terminal it lands on.

Claimants, approvers and anyone who can reach Temporal choose the text we later print:
names, comments, descriptions, audit details. An ESC in it can retitle the window,
recolour the screen or hide what follows; a bidi override can make "pay 100" read as
"pay 001". Every such character is shown as its escape (`\\x1b`, `\\u202e`) instead, so an
operator sees that it was there and what it was.
"""

from __future__ import annotations

import unicodedata

# Cc: C0, DEL and C1 controls (ESC, BEL, CSI U+009B...). Cf: format characters, among
# them the bidi overrides and isolates (U+202A-U+202E, U+2066-U+2069), zero-width and
# invisible characters. Cs: unpaired surrogates, which cannot even be encoded for output.
# Zl, Zp: line and paragraph separators, which some terminals and viewers break lines on.
_UNPRINTABLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(char: str) -> str:
    if char in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[char]
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def is_unprintable(char: str) -> bool:
    """True for a character that must not reach a terminal as it is."""
    return unicodedata.category(char) in _UNPRINTABLE_CATEGORIES


def printable(text: str, *, multiline: bool = False) -> str:
    """`text` with every control, format and separator character shown as its escape.

    Newlines are kept only with `multiline`, for blocks meant to span lines (an error that
    lists problems); in a table cell or a one-line field they are shown as `\\n`.
    """
    if text.isascii() and text.isprintable():
        return text
    return "".join(
        _escape(char) if is_unprintable(char) and not (multiline and char == "\n") else char
        for char in text
    )


def json_printable(document: str) -> str:
    """A JSON document whose unprintable characters are written as JSON `\\u` escapes.

    JSON escapes only U+0000-U+001F on its own; DEL, C1 controls, bidi overrides and the
    rest would reach the terminal raw. They can only occur inside strings (JSON's own
    syntax is ASCII), where `\\uXXXX` decodes to the same character: the document means
    exactly what it meant, and prints safely.
    """
    out: list[str] = []
    for char in document:
        if not is_unprintable(char) or char in "\n\r\t":
            out.append(char)
            continue
        code = ord(char)
        if code >= 0x10000:
            code -= 0x10000
            out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
        else:
            out.append(f"\\u{code:04x}")
    return "".join(out)
