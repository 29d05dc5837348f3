"""Making untrusted text safe for a terminal.

Model-, subject- and bank-written text may hold rich markup (``[bold red]``, ``[link=...]``) or
terminal control sequences (``ESC ] 0 ; title BEL``, ``ESC [ 2 J``). Views show such text
literally: this module strips ANSI/OSC sequences and makes other control characters visible;
views then put the result in a ``rich.text.Text`` (never parsed as markup) or escape it.
"""

from __future__ import annotations

import re

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


def clean(text: str, max_chars: int | None = None) -> str:
    """``text`` with escape sequences removed and control characters made visible.

    Args:
        text: Untrusted text.
        max_chars: Fold longer text to this many characters, marking the cut.
    """
    text = _ANSI.sub("", text)
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    if max_chars is not None and len(text) > max_chars:
        text = text[: max_chars - 1] + "…"
    return text


def one_line(text: str, max_chars: int = 120) -> str:
    """``text`` cleaned and folded onto one line (newlines shown as ``⏎``)."""
    return clean(text.replace("\r\n", "\n").replace("\n", " ⏎ "), max_chars)
