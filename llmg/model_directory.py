"""The model directory behind /v1/models: refreshed in the background, served from memory.

At start-up every provider's catalogued (or configured) models are listed at once; a background
task then asks each provider for its live list, each with its own timeout, and repeats every
``REFRESH_SECONDS``. The route only ever reads the latest snapshot, so a dead provider never
slows it down.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence

from .providers.base import Provider
from .schemas.openai import Model, ModelList

log = logging.getLogger("llmg.models")

REFRESH_SECONDS = 300.0
FETCH_TIMEOUT = 8.0


class ModelDirectory:
    def __init__(self, providers: Mapping[str, Provider], groups: Sequence[str] = ()) -> None:
        self.providers = dict(providers)
        self.groups = list(groups)  # routing groups: listed first, as models owned by "llmg-group"
        self._created = int(time.time())
        self._by_provider: dict[str, list[str]] = {
            name: list(p.settings.models if p.settings.models is not None else p.spec.models)
            for name, p in self.providers.items()
        }
        self._rebuild()
        self._task: asyncio.Task[None] | None = None

    def _owner(self, provider: Provider) -> str:
        return "llmg-mock" if provider.spec.adapter == "mock" else provider.name

    def _rebuild(self) -> None:
        models = [Model(id=name, created=self._created, owned_by="llmg-group") for name in sorted(self.groups)]
        models += [
            Model(id=f"{name}/{model}", created=self._created, owned_by=self._owner(self.providers[name]))
            for name in sorted(self._by_provider)
            for model in self._by_provider[name]
        ]
        self._list = ModelList(data=models)
        self._index = {m.id: m for m in models}

    def snapshot(self) -> ModelList:
        return self._list

    def find(self, model_id: str) -> Model | None:
        return self._index.get(model_id)

    async def refresh(self) -> None:
        async def one(name: str, provider: Provider) -> None:
            try:
                ids = await asyncio.wait_for(provider.list_models(), FETCH_TIMEOUT)
            except Exception as exc:  # keep the previous list; a provider's failure is not ours
                log.info("model list for %s not refreshed: %s", name, type(exc).__name__)
                return
            if ids:
                self._by_provider[name] = list(dict.fromkeys(ids))

        await asyncio.gather(*(one(n, p) for n, p in self.providers.items()))
        self._rebuild()

    def start(self) -> None:
        async def loop() -> None:
            while True:
                await self.refresh()
                await asyncio.sleep(REFRESH_SECONDS)

        self._task = asyncio.get_running_loop().create_task(loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
