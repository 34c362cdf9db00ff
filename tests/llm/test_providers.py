"""The provider registry: configuration from the environment, handle resolution, model listing."""

import logging

import letta_client.types
import pytest

import memfold.llm
from memfold.config import Settings
from memfold.errors import ConfigurationError, InvalidValueError
from memfold.llm import (
    ChatMessage,
    ModelHandle,
    ModelInfo,
    ModelRegistry,
    ModelRequest,
    ScriptedModel,
    get_registry,
    reset_registry,
    text_response,
)
from memfold.llm.anthropic import AnthropicModel
from memfold.llm.openai import OpenAIModel
from memfold.llm.providers import guess_context_window
from tests.fakes import FakeAnthropicServer, FakeOpenAIServer, free_port

NO_DEFAULT = Settings(default_model=None)


def registry(**environ: str) -> ModelRegistry:
    return ModelRegistry(environ=environ, settings=NO_DEFAULT)


def test_nothing_configured() -> None:
    models = registry()

    assert models.providers == []
    assert models.default_handle() is None
    with pytest.raises(ConfigurationError) as info:
        models.get("openai/gpt-4o-mini")
    assert info.value.message == (
        "provider 'openai' is not configured: "
        "set OPENAI_API_KEY (and OPENAI_BASE_URL for a compatible server)"
    )


def test_openai_from_api_key() -> None:
    models = registry(OPENAI_API_KEY="sk-1")

    (config,) = models.providers
    assert (config.name, config.base_url, config.api_key) == ("openai", "https://api.openai.com/v1", "sk-1")
    assert "sk-1" not in repr(config)
    assert models.default_handle() == "openai/gpt-4o-mini"
    model = models.get("openai/gpt-4o-mini")
    assert isinstance(model, OpenAIModel)
    assert str(model.handle) == "openai/gpt-4o-mini"


def test_openai_compatible_server_from_base_url_alone() -> None:
    models = registry(OPENAI_BASE_URL="http://127.0.0.1:1234/v1/")

    assert models.providers[0].base_url == "http://127.0.0.1:1234/v1"
    assert models.is_configured("OpenAI")


@pytest.mark.parametrize(
    "url", ["http://localhost:11434", "http://localhost:11434/", "http://localhost:11434/v1"]
)
def test_ollama_from_base_url(url: str) -> None:
    models = registry(OLLAMA_BASE_URL=url)

    (config,) = models.providers
    assert (config.name, config.base_url, config.provider_type) == (
        "ollama",
        "http://localhost:11434/v1",
        "ollama",
    )
    assert models.default_handle() == "ollama/llama3.1"


def test_anthropic_from_api_key() -> None:
    models = registry(ANTHROPIC_API_KEY="sk-ant", ANTHROPIC_BASE_URL="http://127.0.0.1:9/")

    assert models.providers[0].base_url == "http://127.0.0.1:9"
    assert isinstance(models.get("anthropic/claude-sonnet-4-6"), AnthropicModel)
    assert models.default_handle() == "anthropic/claude-sonnet-4-6"


def test_first_configured_provider_gives_the_default_unless_settings_name_one() -> None:
    environ = {"OLLAMA_BASE_URL": "http://h:1", "OPENAI_API_KEY": "k"}

    assert registry(**environ).default_handle() == "openai/gpt-4o-mini"
    chosen = ModelRegistry(environ=environ, settings=Settings(default_model="ollama/qwen3:8b"))
    assert chosen.default_handle() == "ollama/qwen3:8b"


def test_unknown_provider_and_unregistered_scripted_model() -> None:
    models = registry(OPENAI_API_KEY="k")

    with pytest.raises(ConfigurationError, match="provider 'groq' is not configured: add it"):
        models.get("groq/llama-3.1-8b")
    with pytest.raises(ConfigurationError, match=r"register_model\(ScriptedModel"):
        models.get("scripted/nobody")


@pytest.mark.parametrize("handle", ["gpt-4o-mini", "/gpt-4o", "openai/", ""])
def test_malformed_handles(handle: str) -> None:
    with pytest.raises(InvalidValueError, match="provider/model"):
        registry(OPENAI_API_KEY="k").get(handle)


def test_handle_keeps_everything_after_the_first_slash() -> None:
    handle = ModelHandle.parse("OpenRouter/meta-llama/llama-3.1-8b:free")

    assert (handle.provider, handle.model) == ("openrouter", "meta-llama/llama-3.1-8b:free")


def test_one_client_per_provider_and_one_model_per_handle() -> None:
    models = registry(OPENAI_API_KEY="k", OLLAMA_BASE_URL="http://h:1")

    first, again, other = models.get("openai/a"), models.get("openai/a"), models.get("openai/b")
    local = models.get("ollama/a")

    assert first is again
    assert isinstance(first, OpenAIModel)
    assert isinstance(other, OpenAIModel)
    assert isinstance(local, OpenAIModel)
    assert first.client is other.client
    assert local.client is not first.client


async def test_registered_model_wins_and_is_listed() -> None:
    models = registry()
    scripted = models.register_model(ScriptedModel(name="bench", context_window=4000))
    scripted_model = models.get("scripted/bench")

    assert scripted_model is scripted
    assert models.default_handle() == "scripted/bench"
    assert await models.list_models() == [
        ModelInfo(
            handle="scripted/bench",
            name="bench",
            provider_name="scripted",
            provider_type="letta",
            endpoint_type="openai",
            context_window=4000,
            display_name="scripted/bench",
        )
    ]
    models.unregister_model("scripted/bench")
    with pytest.raises(ConfigurationError):
        models.get("scripted/bench")


async def test_compatible_provider_registered_in_code(fake_openai: FakeOpenAIServer) -> None:
    models = registry()
    models.register_openai_compatible("Groq", fake_openai.base_url, "gsk-1", provider_type="groq")
    fake_openai.queue_text("fast")

    response = await models.get("groq/llama-3.1-8b").complete(
        ModelRequest(messages=[ChatMessage("user", "hi")])
    )

    assert response.content == "fast"
    assert fake_openai.last_chat_request["model"] == "llama-3.1-8b"
    assert fake_openai.requests[-1].headers["authorization"] == "Bearer gsk-1"
    assert models.providers[0].category == "byok"

    await models.remove_provider("groq")
    with pytest.raises(ConfigurationError):
        models.get("groq/llama-3.1-8b")


async def test_list_models_from_the_fake_server(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.models = {"gpt-4o-mini": None, "my-local": 8192, "text-embedding-3-small": None}
    models = registry(**fake_openai.env())

    listed = await models.list_models()
    await models.list_models()  # served from the cache

    assert [m.handle for m in listed] == ["openai/gpt-4o-mini", "openai/my-local"]
    assert [m.context_window for m in listed] == [128_000, 8192]
    assert {(m.provider_type, m.endpoint_type, m.endpoint) for m in listed} == {
        ("openai", "openai", fake_openai.base_url)
    }
    assert len([r for r in fake_openai.requests if r.path == "/v1/models"]) == 1
    await models.aclose()


async def test_unreachable_provider_lists_nothing_but_others_still_list(
    fake_openai: FakeOpenAIServer, caplog: pytest.LogCaptureFixture
) -> None:
    models = registry(OLLAMA_BASE_URL=f"http://127.0.0.1:{free_port()}", **fake_openai.env())

    with caplog.at_level(logging.WARNING, logger="memfold.llm.providers"):
        listed = await models.list_models()

    assert {m.provider_name for m in listed} == {"openai"}
    assert "cannot list the models of provider 'ollama'" in caplog.text
    await models.aclose()


async def test_list_anthropic_models(fake_anthropic: FakeAnthropicServer) -> None:
    fake_anthropic.models = {"claude-haiku-4-5": 200_000, "claude-next": None}
    models = registry(**fake_anthropic.env())

    listed = await models.list_models()

    assert [(m.handle, m.context_window) for m in listed] == [
        ("anthropic/claude-haiku-4-5", 200_000),
        ("anthropic/claude-next", 200_000),  # guessed from the family name
    ]
    assert {m.endpoint_type for m in listed} == {"anthropic"}
    await models.aclose()


async def test_model_info_builds_the_letta_model_the_sdk_parses(fake_openai: FakeOpenAIServer) -> None:
    models = registry(OLLAMA_BASE_URL=fake_openai.origin)
    models.register_model(ScriptedModel(name="x"))

    for info in await models.list_models():
        letta_model = letta_client.types.Model.model_validate(
            {
                "handle": info.handle,
                "name": info.name,
                "model": info.name,
                "display_name": info.display_name,
                "provider_name": info.provider_name,
                "provider_type": info.provider_type,
                "provider_category": info.provider_category,
                "model_endpoint_type": info.endpoint_type,
                "model_endpoint": info.endpoint,
                "context_window": info.context_window,
                "max_context_window": info.context_window,
            }
        )
        assert letta_model.handle == info.handle
    await models.aclose()


def test_guess_context_window() -> None:
    assert guess_context_window("gpt-4o-mini-2024-07-18", 1) == 128_000
    assert guess_context_window("gpt-4", 1) == 8192
    assert guess_context_window("gpt-4.1-nano", 1) == 1_047_576
    assert guess_context_window("meta-llama/llama3.1:8b", 1) == 131_072
    assert guess_context_window("something-new", 32_000) == 32_000


async def test_process_registry_follows_the_environment(openai_env: FakeOpenAIServer) -> None:
    first = get_registry()

    assert get_registry() is first
    assert first.is_configured("openai")
    openai_env.queue_text("from the fake")
    response = await first.get("openai/gpt-4o-mini").complete(ModelRequest([ChatMessage("user", "hi")]))
    assert response.content == "from the fake"

    await first.aclose()
    reset_registry()
    assert get_registry() is not first


def test_public_names() -> None:
    exported = set(memfold.llm.__all__)

    assert all(hasattr(memfold.llm, name) for name in exported)
    assert {"Model", "ModelHandle", "ScriptedModel", "get_registry", "ModelRegistry", "ModelInfo"} <= exported
    assert {"tool_call_response", "text_response", "ChatMessage", "ToolCall", "ToolSpec"} <= exported
    assert text_response("x").content == "x"
