"""A cheaper dispatch for the Sanic signal every request fires: ``http.routing.after`` (gateway auth).

Sanic dispatches every signal through its general machinery: the event name formatted twice, a
router lookup of the signal, a debug log line built with an f-string whether or not it is logged,
and two coroutines, one awaiting the other. For this one event that happens on every request and
measured as a visible share of a worker's time (benchmarks/README.md, "auth signal"). Its handlers
are fixed once the server runs, so ``GatewaySanic`` looks them up once and calls the single
handler directly.

The handler stays a registered Sanic signal (``@app.signal("http.routing.after")``): anything that
lists, waits on or adds signals sees it as before. The fast path is taken only when it cannot
differ from Sanic's own dispatch: an inline dispatch of a fast event, no condition, not reversed,
handlers without requirements, and nobody waiting on the event (``app.event(...)``);
otherwise the call goes to Sanic unchanged. An exception from the handler propagates as it does
from Sanic; Sanic's error path then reports it (``server.exception.report``) once, as before.
"""

from __future__ import annotations

from inspect import iscoroutinefunction
from typing import Any

from sanic import Sanic
from sanic.exceptions import NotFound

# http.handler.before: llmg/observe's start (when metrics, the json access log or traces are on).
FAST_EVENTS = frozenset({"http.routing.after", "http.handler.before"})


def _in_order(handlers: tuple[Any, ...]) -> Any:
    """One coroutine function running ``handlers`` like Sanic's dispatch: in order, the first truthy
    result ends it."""

    async def run(**context: Any) -> Any:
        for handler in handlers:
            result = await handler(**context)
            if result:
                return result
        return None

    return run


class GatewaySanic(Sanic[Any, Any]):
    """Sanic with the per-request auth signal dispatched directly (see module docstring)."""

    __slots__ = ("_fast_signals",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # event -> (signal, handler), or None for "use Sanic's dispatch"; filled on first use,
        # once the signal router is final (its routes cannot change after that).
        self._fast_signals: dict[str, tuple[Any, Any] | None] = {}

    def _fast_handler(self, event: str) -> tuple[Any, Any] | None:
        try:
            return self._fast_signals[event]
        except KeyError:
            pass
        found: tuple[Any, Any] | None = None
        if self.signal_router.finalized:
            try:
                group, _handlers, params = self.signal_router.get(event)
            except NotFound:
                group, _handlers, params = None, [], {}
            signals = list(group.routes) if group is not None else []
            params = {k: v for k, v in params.items() if k != "__trigger__"}  # Sanic drops it too
            if (
                signals
                and not params
                and all(not sig.extra.requirements and sig.ctx.definition == event
                        and iscoroutinefunction(sig.handler) for sig in signals)
            ):
                ordered = [sig.handler for sig in reversed(signals)]  # Sanic's order (not reversed)
                found = (signals, ordered[0] if len(ordered) == 1 else _in_order(tuple(ordered)))
            self._fast_signals[event] = found
        return found

    def dispatch(  # one signature for both of Sanic's overloads
        self,
        event: str,
        *,
        condition: dict[str, str] | None = None,
        context: dict[str, Any] | None = None,
        fail_not_found: bool = True,
        inline: bool = False,
        reverse: bool = False,
    ) -> Any:
        if inline and condition is None and not reverse and event in FAST_EVENTS:
            fast = self._fast_handler(event)
            if fast is not None:
                for sig in fast[0]:  # a loop, not any(<generator>): no generator object per request
                    if sig.ctx.waiters:
                        break
                else:
                    # The handler's own coroutine: Sanic's caller awaits it (one coroutine, not two).
                    return fast[1](**(context or {}))
        return super().dispatch(event, condition=condition, context=context,  # type: ignore[call-overload]
                                fail_not_found=fail_not_found, inline=inline, reverse=reverse)
