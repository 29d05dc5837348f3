"""Where the project's own files are: the config directory and the default runs directory."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def config_dir() -> Path:
    """The Hydra config directory: ``conf/`` of a source checkout, else the installed copy.

    The wheel ships ``conf/`` as the package ``sandbox.conf``; an editable install maps that
    package onto the checkout's ``conf/``, so both resolve to the files a researcher edits.
    """
    checkout = Path(__file__).resolve().parent.parent / "conf"
    if (checkout / "config.yaml").is_file():
        return checkout
    return Path(str(resources.files("sandbox.conf")))
