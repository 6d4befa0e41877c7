"""People's names compared by identity, not spelling; untrusted text without control codes.

"Maria", "maria " and " MARIA" are one person: every place that compares people (the
submitter against an approver, an approver against the directory, the first approval
against the second) compares `person_key` values. Control characters are refused in
every name: they can hide who acted and rewrite an operator's terminal.
"""

from __future__ import annotations

import unicodedata
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator

# Bidi overrides and isolates reorder what a reader sees; never wanted in a claim.
_BIDI_CONTROLS = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))


def control_characters(text: str, *, free_text: bool = False) -> list[str]:
    """The control characters in `text`, as sorted U+XXXX codes.

    Names allow none of categories Cc, Cf and Cs. Free text (descriptions, comments)
    keeps line breaks, tabs and the joiners emoji need, but no escape sequences or
    bidi overrides.
    """
    found = set()
    for c in text:
        category = unicodedata.category(c)
        if free_text:
            bad = (category == "Cc" and c not in "\n\t") or category == "Cs"
            bad = bad or c in _BIDI_CONTROLS
        else:
            bad = category in ("Cc", "Cf", "Cs")
        if bad:
            found.add(f"U+{ord(c):04X}")
    return sorted(found)


def person_key(name: str) -> str:
    """The identity of a name: Unicode NFKC, case-folded, trimmed."""
    return unicodedata.normalize("NFKC", name).casefold().strip()


def _no_control_characters(value: str) -> str:
    found = control_characters(value)
    if found:
        raise ValueError(f"control characters are not allowed here ({', '.join(found)})")
    return value


def _free_text(value: str) -> str:
    found = control_characters(value, free_text=True)
    if found:
        raise ValueError(f"control characters are not allowed here ({', '.join(found)})")
    return value


def _normalised_name(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    return person_key(_no_control_characters(value))


def _json_number(value: Any) -> Any:
    """Money arrives as a JSON number; "1250" or true is a mistake worth refusing."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError('must be a JSON number, not text (write 1250.00, not "1250.00")')
    return value


# A person's name as an identity: normalised, no control characters.
PersonName = Annotated[str, BeforeValidator(_normalised_name)]
# A short untrusted label (an id, a document kind): no control characters at all.
PlainText = Annotated[str, AfterValidator(_no_control_characters)]
# Untrusted free text (a description, a comment): line breaks and tabs, nothing else.
FreeText = Annotated[str, AfterValidator(_free_text)]
# Refuses strings and booleans before pydantic's lax Decimal parsing would accept them.
JsonNumber = BeforeValidator(_json_number)
