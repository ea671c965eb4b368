"""For Piccolo's own CLI (`piccolo migrations new tenants --auto`) run from the repo root.

The product itself uses `klankbord.piccolo_conf` (set through PICCOLO_CONF by the CLI).
"""

from typing import Any

from klankbord import piccolo_conf as _conf

APP_REGISTRY = _conf.APP_REGISTRY


def __getattr__(name: str) -> Any:
    return getattr(_conf, name)
