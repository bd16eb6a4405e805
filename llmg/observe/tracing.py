"""OpenTelemetry traces (the optional ``tracing`` extra): a server span per request, a client
span per upstream attempt, GenAI semantic-convention attributes, W3C trace context in and out.

The spans go to this gateway's own TracerProvider (not the process-global one), exported over
OTLP/HTTP when ``[tracing] otlp_endpoint`` is set. Attributes never carry a URL, a header or a
body: provider URLs may hold credentials, and prompts are the client's.
"""

from __future__ import annotations

from typing import Any

from ..config import TracingConfig
from ..errors import GatewayError


class Tracer:
    def __init__(self, config: TracingConfig) -> None:
        try:
            from opentelemetry import trace
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise RuntimeError("[tracing] enabled needs the tracing extra: pip install 'llmg[tracing]'") from exc
        self._trace = trace
        self.provider = TracerProvider(resource=Resource.create({"service.name": config.service_name}))
        if config.otlp_endpoint:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.trace.export import BatchSpanProcessor

            self.provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=config.otlp_endpoint)))
        self.tracer = self.provider.get_tracer("llmg")
        self.propagator = TraceContextTextMapPropagator()
        self._server = trace.SpanKind.SERVER
        self._client = trace.SpanKind.CLIENT

    def start(self, request: Any) -> Any:
        parent = self.propagator.extract({"traceparent": tp} if (tp := request.headers.get("traceparent")) else {})
        route = request.route.path if request.route is not None else request.path
        return self.tracer.start_span(f"{request.method} /{route.lstrip('/')}", context=parent, kind=self._server,
                                      attributes={"http.request.method": request.method, "http.route": f"/{route.lstrip('/')}"})

    def attempt(self, rec: Any, kwargs: dict[str, Any]) -> Any:
        """A child span for one upstream exchange; its traceparent goes upstream in the headers."""
        context = self._trace.set_span_in_context(rec.span)
        provider = kwargs.get("provider", "")
        span = self.tracer.start_span("upstream", context=context, kind=self._client,
                                      attributes={"gen_ai.system": provider})
        carrier: dict[str, str] = {}
        self.propagator.inject(carrier, context=self._trace.set_span_in_context(span))
        kwargs["headers"] = {**kwargs.get("headers", {}), **carrier}
        return span

    def attempt_end(self, span: Any, status: int) -> None:
        if status:
            span.set_attribute("http.response.status_code", status)
        if not status or status >= 400:
            span.set_status(self._trace.Status(self._trace.StatusCode.ERROR))
        span.end()

    def end(self, span: Any, request: Any, rec: Any, kinds: tuple[int, int, int, int] | None,
            error: GatewayError | None) -> None:
        ctx = request.ctx
        provider = getattr(ctx, "provider", None)
        model = getattr(ctx, "model", None)
        if provider:
            span.set_attribute("gen_ai.system", provider)
        if model:
            span.set_attribute("gen_ai.request.model", model)
        span.set_attribute("gen_ai.operation.name", "chat")
        span.set_attribute("http.response.status_code", rec.status)
        if kinds is not None:
            span.set_attribute("gen_ai.usage.input_tokens", kinds[0])
            span.set_attribute("gen_ai.usage.output_tokens", kinds[1])
        if error is not None:
            span.set_attribute("error.type", error.code or error.type)
            span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, error.code or error.type))
        span.end()
