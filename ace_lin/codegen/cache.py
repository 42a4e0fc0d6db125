"""Where generated data is cached: $ACE_LIN_CACHE_DIR, else $XDG_CACHE_HOME/ace_lin,
else ~/.cache/ace_lin. Never inside the package directory."""
import os


def cache_dir() -> str:
    path = os.environ.get("ACE_LIN_CACHE_DIR")
    if not path:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        path = os.path.join(base, "ace_lin")
    os.makedirs(path, exist_ok=True)
    return path
