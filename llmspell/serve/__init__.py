"""``llmspell serve``: a long-running daemon hosting a directory of spells over HTTP.

Embed it in Python as an ASGI app::

    import uvicorn
    from llmspell.serve import create_app

    app = create_app("spells")           # Starlette; its lifespan opens the runtime
    uvicorn.run(app, host="127.0.0.1", port=8321)

Endpoints: ``POST /spells/{name}/run``, ``GET /spells``, ``POST /events/{topic}``,
``GET /events?pattern=P`` (server-sent events, ``Last-Event-ID`` resumes), ``GET /workflows``,
``GET /workflows/{id}``, ``GET /metrics``, ``GET /healthz``, ``GET /readyz``. The README's
"The daemon" section says what each does; the modules' docstrings say how.
"""

from __future__ import annotations

from ._app import create_app as create_app
from ._daemon import Daemon as Daemon
from ._server import run_daemon as run_daemon
from ._settings import ServeSettings as ServeSettings
from ._settings import load_settings as load_settings
from ._spellconfig import SpellConfig as SpellConfig

__all__ = ["Daemon", "ServeSettings", "SpellConfig", "create_app", "load_settings", "run_daemon"]
