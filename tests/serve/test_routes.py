"""The run route answers the same whichever way a request reaches it (the direct path for
``POST /spells/{name}/run``, or Starlette's router)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

import llmspell
from llmspell.serve import ServeSettings, create_app

pytestmark = pytest.mark.anyio


async def test_the_run_route_direct_and_through_the_router(tmp_path: Path) -> None:
    (tmp_path / "spells").mkdir()
    (tmp_path / "spells" / "hello.lua").write_text("return {n = params.n}")
    settings = ServeSettings(spells=tmp_path / "spells", reload=False)
    app = create_app(settings=settings, config=llmspell.Config(state=":memory:"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://d") as http:
            ran = await http.post("/spells/hello/run", json={"n": 2})
            assert ran.status_code == 200
            assert ran.json()["value"] == {"n": 2}
            assert ran.headers["x-llmspell-run-id"] == ran.json()["run_id"]
            missing = await http.post("/spells/nope/run", json={})
            assert missing.status_code == 404 and "nope" in missing.json()["error"]
            bad = await http.post("/spells/hello/run", content=b"[1]")
            assert bad.status_code == 400 and "parameters" in bad.json()["error"]
            wrong = await http.get("/spells/hello/run")  # the router: wrong method
            assert wrong.status_code == 405 and wrong.headers["allow"] == "POST"
            assert (await http.post("/spells/hello/run/x", json={})).status_code == 404
            metrics = (await http.get("/metrics")).text
        mounted = httpx.ASGITransport(app=app, root_path="/api")  # the router: a root path
        async with httpx.AsyncClient(transport=mounted, base_url="http://d") as http:
            ran = await http.post("/api/spells/hello/run", json={"n": 3})
            assert ran.status_code == 200 and ran.json()["value"] == {"n": 3}
    for status in ("200", "404", "400"):
        assert (
            f'llmspell_http_requests_total{{method="POST",route="/spells/{{name}}/run",'
            f'status="{status}"}}' in metrics
        )
    assert 'route="/spells/{name}/run",status="405"' in metrics
