# syntax=docker/dockerfile:1
# LLMG container image: `docker build -t llmg .` from the repository root.
# README "Running in production" shows docker run, deploy/compose.yaml and deploy/kubernetes/.
#
# Two stages: the build stage installs the locked runtime dependencies (hash-checked) into a
# virtualenv and builds + installs the llmg wheel into it; the runtime stage copies only that
# virtualenv onto a fresh slim base, so no compiler, build backend or source tree ships.
# Python 3.11: the version requirements.lock was resolved for.
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# Dependencies first, in their own layer: it is rebuilt only when the lock or pyproject change.
# runtime_requirements.py selects the runtime subset of requirements.lock (the lock also pins the
# test and bench extras); pip then installs it with --require-hashes, exact versions only.
COPY requirements.lock pyproject.toml ./
COPY deploy/runtime_requirements.py deploy/runtime_requirements.py
RUN python deploy/runtime_requirements.py > /tmp/runtime.lock \
 && python deploy/runtime_requirements.py --only setuptools > /tmp/build.lock \
 && python -m venv /opt/llmg \
 && /opt/llmg/bin/pip install --require-hashes -r /tmp/runtime.lock \
 && pip install --require-hashes -r /tmp/build.lock
COPY README.md LICENSE ./
COPY llmg ./llmg
RUN pip wheel --no-deps --no-build-isolation --wheel-dir /tmp/dist . \
 && /opt/llmg/bin/pip install --no-deps /tmp/dist/llmg-*.whl \
 && /opt/llmg/bin/llmg --version

FROM ${PYTHON_IMAGE} AS runtime
# A fixed non-root uid/gid (Kubernetes' runAsNonRoot checks the numeric id), no login shell, no home.
RUN groupadd --system --gid 10001 llmg \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin llmg
COPY --from=build /opt/llmg /opt/llmg
# The default config: everything from the environment (deploy/llmg.toml). Mount your own file over
# /etc/llmg/llmg.toml, or point LLMG_CONFIG elsewhere.
COPY deploy/llmg.toml /etc/llmg/llmg.toml
ENV PATH=/opt/llmg/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LLMG_CONFIG=/etc/llmg/llmg.toml \
    LLMG_PORT=8080 \
    LLMG_WORKERS=2
USER 10001:10001
WORKDIR /tmp
EXPOSE 8080
# Liveness: GET /health (public, no token). Python's own urllib: the slim image has no curl.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD python -c "import os, sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('LLMG_PORT', '8080'), timeout=2).status != 200)"
# exec: llmg is PID 1 and gets SIGTERM itself (graceful drain, server.drain_timeout) and SIGHUP (reload).
CMD ["sh", "-c", "exec llmg serve --host 0.0.0.0 --port \"$LLMG_PORT\" --workers \"$LLMG_WORKERS\""]
