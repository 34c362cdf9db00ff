"""/v1/models/ lists configured models in the shape letta-client parses; /v1/health answers."""

from __future__ import annotations

import httpx
from letta_client.types import HealthResponse, Model

from memfold import __version__
from memfold.config import Settings
from memfold.llm.providers import ModelRegistry
from memfold.server.app import create_app
from tests.fakes.openai_server import FakeOpenAIServer


async def test_models_lists_the_configured_models(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/models/")
    assert response.status_code == 200, response.text
    models = [Model.model_validate(item) for item in response.json()]
    assert [m.handle for m in models] == ["scripted/test"]
    assert models[0].context_window > 0


async def test_models_include_an_openai_compatible_server(
    settings: Settings, fake_openai: FakeOpenAIServer
) -> None:
    app = create_app(settings, ModelRegistry(environ=fake_openai.env()))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://memfold.test") as client:
        models = [Model.model_validate(item) for item in (await client.get("/v1/models/")).json()]
    app.state.memfold.db.dispose()
    openai_models = [m for m in models if m.handle and m.handle.startswith("openai/")]
    assert openai_models, models
    assert all(m.api_model_endpoint == fake_openai.base_url for m in openai_models)


async def test_health(client: httpx.AsyncClient) -> None:
    health = HealthResponse.model_validate((await client.get("/v1/health/")).json())
    assert (health.status, health.version) == ("ok", __version__)
    assert (await client.get("/v1/health")).status_code == 200


async def test_openapi_document_is_served(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert "/v1/agents/" in spec["paths"]
    assert "/v1/agents/{agent_id}/messages" in spec["paths"]
