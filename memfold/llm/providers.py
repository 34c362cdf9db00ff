"""The provider registry: which providers are configured, and `handle -> Model`.

Providers come from the environment (read once, when the registry is built; never a
network call at import or construction):

    openai      OPENAI_API_KEY and/or OPENAI_BASE_URL (any OpenAI-compatible server)
    ollama      OLLAMA_BASE_URL (its OpenAI-compatible API at <url>/v1)
    anthropic   ANTHROPIC_API_KEY (optional ANTHROPIC_BASE_URL; needs memfold[anthropic])

and from code: `register_openai_compatible(name, base_url, api_key)` (providers added
through the API) and `register_model(model)` (scripted models for tests and benchmarks).
One SDK client is kept per provider and shared by all of its models.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from memfold.config import Settings, get_settings
from memfold.errors import ConfigurationError
from memfold.llm.base import Model, ModelHandle

if TYPE_CHECKING:
    from anthropic import AsyncAnthropic
    from openai import AsyncOpenAI

    from memfold.llm.embeddings import Embedder

__all__ = [
    "ModelInfo",
    "ModelRegistry",
    "ProviderConfig",
    "get_registry",
    "guess_context_window",
    "reset_registry",
]

log = logging.getLogger(__name__)

Adapter = Literal["openai", "anthropic"]
ProviderCategory = Literal["base", "byok"]

LISTING_TIMEOUT = 5.0
"""Seconds a provider's `/models` may take when the model list is requested."""
LISTING_TTL = 300.0
"""Seconds a provider's model list is reused; a failed listing is retried after a tenth of it."""

_DEFAULT_MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-sonnet-4-6", "ollama": "llama3.1"}
_ENV_HINTS = {
    "openai": "set OPENAI_API_KEY (and OPENAI_BASE_URL for a compatible server)",
    "ollama": "set OLLAMA_BASE_URL, e.g. http://localhost:11434",
    "anthropic": "set ANTHROPIC_API_KEY (and optionally ANTHROPIC_BASE_URL)",
    "scripted": "register the model first: get_registry().register_model(ScriptedModel(name=...))",
}
# Letta's `model_endpoint_type` values that are also provider types; others speak plain "openai".
_ENDPOINT_TYPES = {
    "openai",
    "anthropic",
    "ollama",
    "groq",
    "vllm",
    "together",
    "openrouter",
    "deepseek",
    "xai",
}
# Not chat models: kept out of the listing.
_NON_CHAT = ("embed", "whisper", "tts", "dall-e", "moderation", "transcribe", "image", "davinci", "babbage")
# Known context windows by model-name prefix, longest prefix first; a guess for the listing only.
_CONTEXT_WINDOWS = sorted(
    {
        "gpt-5": 400_000,
        "gpt-4.1": 1_047_576,
        "gpt-4o": 128_000,
        "gpt-4-turbo": 128_000,
        "gpt-4": 8_192,
        "gpt-3.5-turbo": 16_385,
        "o1": 200_000,
        "o3": 200_000,
        "o4": 200_000,
        "claude": 200_000,
        "llama3.1": 131_072,
        "llama3.2": 131_072,
        "llama3.3": 131_072,
        "qwen2.5": 32_768,
        "qwen3": 40_960,
        "mistral": 32_768,
    }.items(),
    key=lambda item: -len(item[0]),
)


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    """How to reach one provider. `provider_type` uses Letta's vocabulary (`openai`, `ollama`, ...)."""

    name: str
    adapter: Adapter
    base_url: str | None
    api_key: str | None = field(default=None, repr=False)
    provider_type: str = "openai"
    category: ProviderCategory = "base"

    @property
    def endpoint_type(self) -> str:
        return self.provider_type if self.provider_type in _ENDPOINT_TYPES else "openai"


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """One entry of `GET /v1/models/`: what Letta's `Model` needs (handle, name, types, window, URL).

    Scripted models are listed with provider_type `letta` and endpoint_type `openai`,
    the nearest values Letta's clients accept.
    """

    handle: str
    name: str
    provider_name: str
    provider_type: str
    endpoint_type: str
    context_window: int
    endpoint: str | None = None
    provider_category: ProviderCategory = "base"
    display_name: str | None = None


def guess_context_window(model: str, default: int) -> int:
    """The context window of a well-known model family, else `default`."""
    name = model.lower().rsplit("/", 1)[-1]
    for prefix, window in _CONTEXT_WINDOWS:
        if name.startswith(prefix):
            return window
    return default


class ModelRegistry:
    """Configured providers, one cached client each, and the models built on them."""

    def __init__(self, environ: Mapping[str, str] | None = None, settings: Settings | None = None) -> None:
        self._settings = settings
        self._providers: dict[str, ProviderConfig] = {}
        self._openai_clients: dict[str, AsyncOpenAI] = {}
        self._anthropic_clients: dict[str, AsyncAnthropic] = {}
        self._models: dict[ModelHandle, Model] = {}
        self._embedders: dict[ModelHandle, Embedder] = {}
        self._registered: dict[ModelHandle, Model] = {}
        self._listings: dict[str, tuple[float, list[ModelInfo]]] = {}
        self._replaced_clients: list[AsyncOpenAI | AsyncAnthropic] = []
        for config in _providers_from_env(os.environ if environ is None else environ):
            self._providers[config.name] = config

    @property
    def settings(self) -> Settings:
        return self._settings or get_settings()

    # -- configuration ------------------------------------------------------------------

    @property
    def providers(self) -> list[ProviderConfig]:
        return list(self._providers.values())

    def is_configured(self, provider: str) -> bool:
        return provider.lower() in self._providers

    def register_model(self, model: Model) -> Model:
        """Serve `model` under its own handle (e.g. `scripted/helper`), ahead of any provider."""
        self._registered[model.handle] = model
        return model

    def unregister_model(self, handle: str | ModelHandle) -> None:
        self._registered.pop(_parse(handle), None)

    def register_openai_compatible(
        self,
        name: str,
        base_url: str,
        api_key: str | None = None,
        *,
        provider_type: str = "openai",
        category: ProviderCategory = "byok",
    ) -> ProviderConfig:
        """Add (or replace) an OpenAI-compatible provider: its models become `<name>/<model>`."""
        name = name.lower()
        if not name or "/" in name:
            raise ConfigurationError(f"provider name {name!r} must be non-empty and contain no '/'")
        config = ProviderConfig(
            name=name,
            adapter="openai",
            base_url=base_url.rstrip("/"),
            api_key=api_key,
            provider_type=provider_type,
            category=category,
        )
        if (replaced := self._forget(name)) is not None:
            self._replaced_clients.append(replaced)  # may be mid-request: closed by aclose()
        self._providers[name] = config
        return config

    async def remove_provider(self, name: str) -> None:
        """Drop a provider and close its client; its handles stop resolving."""
        client = self._forget(name.lower())
        self._providers.pop(name.lower(), None)
        if client is not None:
            await client.close()

    def _forget(self, provider: str) -> AsyncOpenAI | AsyncAnthropic | None:
        """Drop what was built for `provider` (models, listing) and hand back its client to close."""
        self._listings.pop(provider, None)
        for handle in [h for h in self._models if h.provider == provider]:
            del self._models[handle]
        for handle in [h for h in self._embedders if h.provider == provider]:
            del self._embedders[handle]
        return self._openai_clients.pop(provider, None) or self._anthropic_clients.pop(provider, None)

    # -- resolution ---------------------------------------------------------------------

    def get(self, handle: str | ModelHandle) -> Model:
        """The model for `provider/model`. Raises `InvalidValueError` (bad handle) or `ConfigurationError`."""
        parsed = _parse(handle)
        model = self._registered.get(parsed) or self._models.get(parsed)
        if model is not None:
            return model
        config = self._providers.get(parsed.provider)
        if config is None:
            raise ConfigurationError(_not_configured(parsed.provider))
        if config.adapter == "anthropic":
            from memfold.llm.anthropic import AnthropicModel

            model = AnthropicModel(parsed, client=self._anthropic_client(config))
        else:
            from memfold.llm.openai import OpenAIModel

            model = OpenAIModel(parsed, client=self._openai_client(config))
        self._models[parsed] = model
        return model

    def embedder(self, handle: str | ModelHandle) -> Embedder:
        """The embedder for `provider/model`: `local/hash-<dim>` needs no provider; any other handle
        names an OpenAI-compatible provider's embedding model (Anthropic has none)."""
        from memfold.llm.embeddings import LOCAL_PROVIDER, OpenAIEmbedder, local_embedder

        parsed = _parse(handle)
        embedder = self._embedders.get(parsed)
        if embedder is not None:
            return embedder
        if parsed.provider == LOCAL_PROVIDER:
            embedder = local_embedder(parsed)
        else:
            config = self._providers.get(parsed.provider)
            if config is None:
                raise ConfigurationError(_not_configured(parsed.provider))
            if config.adapter != "openai":
                raise ConfigurationError(
                    f"provider {parsed.provider!r} serves no embeddings: use an OpenAI-compatible provider "
                    "(openai, ollama, ...) or the local embedding 'local/hash-384'"
                )
            embedder = OpenAIEmbedder(parsed, client=self._openai_client(config))
        self._embedders[parsed] = embedder
        return embedder

    def _openai_client(self, config: ProviderConfig) -> AsyncOpenAI:
        client = self._openai_clients.get(config.name)
        if client is None:
            from memfold.llm.openai import make_openai_client

            client = make_openai_client(base_url=config.base_url, api_key=config.api_key)
            self._openai_clients[config.name] = client
        return client

    def _anthropic_client(self, config: ProviderConfig) -> AsyncAnthropic:
        client = self._anthropic_clients.get(config.name)
        if client is None:
            from memfold.llm.anthropic import make_anthropic_client

            client = make_anthropic_client(api_key=config.api_key, base_url=config.base_url)
            self._anthropic_clients[config.name] = client
        return client

    def default_handle(self) -> str | None:
        """`MEMFOLD_DEFAULT_MODEL`, else a default of the first configured provider, else None."""
        if self.settings.default_model:
            return self.settings.default_model
        for provider in ("openai", "anthropic", "ollama"):
            if provider in self._providers:
                return f"{provider}/{_DEFAULT_MODELS[provider]}"
        if self._registered:
            return str(next(iter(self._registered)))
        return None

    # -- listing ------------------------------------------------------------------------

    async def list_models(self) -> list[ModelInfo]:
        """Every model of every configured provider, fetched lazily and cached for a while.

        A provider that cannot be listed contributes nothing (and is logged); it never
        fails the whole listing.
        """
        listings = await asyncio.gather(*(self._listing(config) for config in self._providers.values()))
        models = [info for listing in listings for info in listing]
        models.extend(self._registered_infos())
        return models

    async def _listing(self, config: ProviderConfig) -> list[ModelInfo]:
        cached = self._listings.get(config.name)
        now = time.monotonic()
        if cached is not None and now < cached[0]:
            return cached[1]
        try:
            names = await self._fetch_names(config)
        except Exception as e:  # any failure: log, list nothing, retry a little later
            log.warning("cannot list the models of provider %r: %s", config.name, e)
            self._listings[config.name] = (now + LISTING_TTL / 10, [])
            return []
        default_window = self.settings.default_context_window
        infos = [
            ModelInfo(
                handle=f"{config.name}/{name}",
                name=name,
                provider_name=config.name,
                provider_type=config.provider_type,
                endpoint_type=config.endpoint_type,
                context_window=window or guess_context_window(name, default_window),
                endpoint=config.base_url,
                provider_category=config.category,
            )
            for name, window in names
            if not any(marker in name.lower() for marker in _NON_CHAT)
        ]
        self._listings[config.name] = (now + LISTING_TTL, infos)
        return infos

    async def _fetch_names(self, config: ProviderConfig) -> list[tuple[str, int | None]]:
        """(model id, context window if the provider states it) for each model of a provider."""
        if config.adapter == "anthropic":
            from memfold.llm.anthropic import list_anthropic_models

            return await list_anthropic_models(self._anthropic_client(config), time_limit=LISTING_TIMEOUT)
        from memfold.llm.openai import list_openai_models

        return await list_openai_models(self._openai_client(config), time_limit=LISTING_TIMEOUT)

    def _registered_infos(self) -> list[ModelInfo]:
        default_window = self.settings.default_context_window
        return [
            ModelInfo(
                handle=str(handle),
                name=handle.model,
                provider_name=handle.provider,
                provider_type="letta",
                endpoint_type="openai",
                context_window=getattr(model, "context_window", None) or default_window,
                display_name=str(handle),
            )
            for handle, model in self._registered.items()
        ]

    async def aclose(self) -> None:
        """Close every provider client (registered models are the caller's to close)."""
        clients: list[AsyncOpenAI | AsyncAnthropic] = [
            *self._openai_clients.values(),
            *self._anthropic_clients.values(),
            *self._replaced_clients,
        ]
        self._replaced_clients.clear()
        self._openai_clients.clear()
        self._anthropic_clients.clear()
        self._models.clear()
        self._embedders.clear()
        for client in clients:
            await client.close()


def _parse(handle: str | ModelHandle) -> ModelHandle:
    return handle if isinstance(handle, ModelHandle) else ModelHandle.parse(handle)


def _not_configured(provider: str) -> str:
    if provider == "scripted":
        return f"no scripted model under that name: {_ENV_HINTS['scripted']}"
    hint = _ENV_HINTS.get(
        provider,
        "add it as an OpenAI-compatible provider (name, base URL, key) or use openai, ollama, anthropic",
    )
    return f"provider {provider!r} is not configured: {hint}"


def _providers_from_env(environ: Mapping[str, str]) -> list[ProviderConfig]:
    configs: list[ProviderConfig] = []
    openai_key, openai_url = environ.get("OPENAI_API_KEY"), environ.get("OPENAI_BASE_URL")
    if openai_key or openai_url:
        from memfold.llm.openai import OPENAI_BASE_URL

        url = (openai_url or OPENAI_BASE_URL).rstrip("/")
        configs.append(ProviderConfig("openai", "openai", url, openai_key, provider_type="openai"))
    if ollama_url := environ.get("OLLAMA_BASE_URL"):
        url = ollama_url.rstrip("/")
        url = url if url.endswith("/v1") else f"{url}/v1"
        configs.append(ProviderConfig("ollama", "openai", url, "ollama", provider_type="ollama"))
    if anthropic_key := environ.get("ANTHROPIC_API_KEY"):
        url = (environ.get("ANTHROPIC_BASE_URL") or "https://api.anthropic.com").rstrip("/")
        configs.append(
            ProviderConfig("anthropic", "anthropic", url, anthropic_key, provider_type="anthropic")
        )
    return configs


_registry: ModelRegistry | None = None


def get_registry() -> ModelRegistry:
    """The process's registry, built from the environment on first use."""
    global _registry
    if _registry is None:
        _registry = ModelRegistry()
    return _registry


def reset_registry() -> None:
    """Forget the process registry (tests): the next `get_registry()` re-reads the environment.

    Open clients are dropped, not closed; await `get_registry().aclose()` first to close them.
    """
    global _registry
    _registry = None
