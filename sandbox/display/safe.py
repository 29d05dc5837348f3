"""Making untrusted text safe for a terminal.

Model-, subject- and bank-written text (a bank's category names, task titles and ids included)
may hold rich markup (``[bold red]``, ``[link=...]``), terminal control sequences
(``ESC ] 0 ; title BEL``, ``ESC [ 2 J``) or Unicode bidirectional controls (``U+202E`` turns
the rest of a line around, so ``txt.exe`` can be made to read ``exe.txt``). Views show such
text literally: this module strips ANSI/OSC sequences and makes other control characters and
every bidi control visible as an escape (``\x07``, ``\u202e``); views then put the result in a
``rich.text.Text`` (never parsed as markup, see :func:`safe_text`) or escape it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.text import Text

# CSI (ESC [ ... final), OSC (ESC ] ... BEL or ST), and other two-byte ESC sequences.
_ANSI = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC, terminated by BEL or ST (or cut off)
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"  # DCS, SOS, PM, APC strings
    r"|\x1b[@-Z\\-_]"  # other Fe escapes
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
)
# C0 and C1 controls and DEL, except newline and tab.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Unicode bidirectional controls (Unicode TR9: embeddings and overrides U+202A-202E, isolates
# U+2066-2069, the marks U+200E/200F and U+061C), and the line and paragraph separators
# U+2028/2029, which some terminals and editors treat as a line break.
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u2028\u2029]")


def clean(text: str, max_chars: int | None = None) -> str:
    """``text`` with escape sequences removed and control characters made visible.

    Args:
        text: Untrusted text.
        max_chars: Fold longer text to this many characters, marking the cut.
    """
    text = _ANSI.sub("", text)
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    text = _BIDI.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    if max_chars is not None and len(text) > max_chars:
        text = text[: max_chars - 1] + "…"
    return text


def one_line(text: str, max_chars: int = 120) -> str:
    """``text`` cleaned and folded onto one line (newlines shown as ``⏎``)."""
    return clean(text.replace("\r\n", "\n").replace("\n", " ⏎ "), max_chars)


def safe_text(value: object, max_chars: int = 200, style: str = "") -> Text:
    """``value`` as a ``rich.text.Text`` of cleaned, one-line text: never parsed as markup.

    Every view builds the cells and lines it shows from untrusted strings with this (a plain
    ``str`` handed to a rich table or panel title would be read as markup).
    """
    from rich.text import Text

    return Text(one_line(str(value), max_chars), style=style)


def clean_labels(info: dict[str, Any]) -> dict[str, Any]:
    """``info`` with the text of its menu labels cleaned (a bank's categories are untrusted)."""
    labels = info.get("menu")
    menu = [
        {k: clean(v, 200) if isinstance(v, str) else v for k, v in lab.items()}
        if isinstance(lab, dict)
        else lab
        for lab in (labels if isinstance(labels, list) else [])
    ]
    return {**info, "menu": menu}
