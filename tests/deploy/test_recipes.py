"""The container recipe (Dockerfile, deploy/compose.yaml, deploy/prometheus.yml) and the Kubernetes
manifests agree with the gateway: ports, probe paths, config schema, drain timing, non-root.

Nothing here builds or pulls an image (this machine cannot); every check reads the files and
compares them with the gateway's own config parser and routes.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from llmg.app import create_app
from llmg.cli.checks import auth_problem
from llmg.config import parse

from .recipes import (
    DEPLOY,
    KUBERNETES,
    ROOT,
    compose_interpolate,
    dockerfile_stages,
    kubernetes_objects,
    parse_config,
    yaml_documents,
)

# --------------------------------------------------------------------------------------------
# The gateway's side: which paths it serves, checked in process over HTTP.


@pytest.fixture(scope="module")
def served_paths() -> set[str]:
    app = create_app(parse("[providers.mock]\n", "test", {}), name="deploy_recipes")
    paths = {"/" + route.path for route in app.router.routes if "GET" in route.methods}
    # Not only registered: both probes answer 200 without a token on a started app.
    for path in ("/health", "/health/ready"):
        _, response = app.test_client.get(path)
        assert response.status == 200, (path, response.text)
    return paths


# --------------------------------------------------------------------------------------------
# Dockerfile


@pytest.fixture(scope="module")
def stages() -> list:
    return dockerfile_stages((ROOT / "Dockerfile").read_text())


def test_dockerfile_is_multi_stage_on_slim_python(stages) -> None:
    assert len(stages) >= 2
    for stage in stages:
        assert stage.base.startswith("python:3.11") and stage.base.endswith("-slim"), stage.base
    final = stages[-1]
    copied = " ".join(final.all("COPY"))
    assert "--from=build" in copied, "the runtime stage copies the built virtualenv from the build stage"
    # The runtime stage gets no source tree, only the venv and the config.
    assert not any(args.split()[0] in ("llmg", ".") for args in final.all("COPY"))


def test_dockerfile_installs_from_the_lock_with_hashes(stages) -> None:
    build = stages[0]
    assert any("requirements.lock" in args for args in build.all("COPY"))
    runs = " && ".join(build.all("RUN"))
    assert "deploy/runtime_requirements.py > /tmp/runtime.lock" in runs
    assert "/opt/llmg/bin/pip install --require-hashes -r /tmp/runtime.lock" in runs
    # llmg itself goes in without resolving anything: every dependency came from the lock.
    assert "/opt/llmg/bin/pip install --no-deps /tmp/dist/llmg-" in runs
    # Every pip install in the recipe is hash-checked or --no-deps: nothing unpinned slips in.
    for command in runs.split("&&"):
        if "pip install" in command:
            assert "--require-hashes" in command or "--no-deps" in command, command


def test_dockerfile_copies_only_files_that_exist(stages) -> None:
    for stage in stages:
        for args in stage.all("COPY"):
            parts = [p for p in shlex.split(args) if not p.startswith("--")]
            if "--from=" in args:
                continue
            for source in parts[:-1]:
                assert (ROOT / source).exists(), f"COPY {source}: no such file in the repository"


def test_dockerfile_runs_as_non_root(stages) -> None:
    final = stages[-1]
    user = final.last("USER")
    assert user is not None, "the runtime stage sets USER"
    uid = user.split(":")[0]
    assert uid not in ("root", "0") and uid.isdigit(), "numeric non-root uid (runAsNonRoot checks it)"
    assert any(f"--uid {uid}" in args for args in final.all("RUN")), "the user is created with that uid"
    # The Kubernetes Deployment runs as the same uid.
    pod = kubernetes_objects()[("Deployment", "llmg")]["spec"]["template"]["spec"]
    assert str(pod["securityContext"]["runAsUser"]) == uid


def test_dockerfile_port_health_check_and_command(stages, served_paths) -> None:
    final = stages[-1]
    env = final.env()
    config_file = env["LLMG_CONFIG"]
    # The baked-in config is deploy/llmg.toml, copied where LLMG_CONFIG points.
    assert any(args.split() == ["deploy/llmg.toml", config_file] for args in final.all("COPY"))
    config = parse_config((DEPLOY / "llmg.toml").read_text(), "deploy/llmg.toml", {"LLMG_API_KEY": "k"}).config
    port = config.server.port
    assert final.last("EXPOSE") == str(port) == env["LLMG_PORT"]
    assert config.server.host == "0.0.0.0"

    health = final.last("HEALTHCHECK")
    assert health is not None and "CMD " in health
    assert "/health'" in health and "LLMG_PORT" in health and "127.0.0.1" in health
    assert "/health" in served_paths

    command = final.last("CMD")
    assert command is not None
    argv = yaml.safe_load(command)  # the JSON exec form
    assert argv[:2] == ["sh", "-c"]
    words = shlex.split(argv[2])
    assert words[:3] == ["exec", "llmg", "serve"], "exec: llmg is PID 1 and gets SIGTERM/SIGHUP itself"
    assert words[words.index("--host") + 1] == "0.0.0.0"
    assert words[words.index("--workers") + 1] == "$LLMG_WORKERS"
    assert words[words.index("--port") + 1] == "$LLMG_PORT"
    assert int(env["LLMG_WORKERS"]) >= 1


def test_image_default_config_parses_and_refuses_to_start_open() -> None:
    text = (DEPLOY / "llmg.toml").read_text()
    # With the key exported: valid, nothing unset, memory limits for one container alone.
    loaded = parse_config(text, "deploy/llmg.toml", {"LLMG_API_KEY": "sk-gw"})
    assert not loaded.unset_vars and auth_problem(loaded) is None
    assert loaded.config.limits.backend == "memory"
    # Without it, `llmg serve` refuses to start rather than accept any token.
    assert auth_problem(parse_config(text, "deploy/llmg.toml", {})) is not None


# --------------------------------------------------------------------------------------------
# deploy/compose.yaml and deploy/prometheus.yml


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def _gateways(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in compose["services"].items() if "build" in svc}


def _seconds(value: str) -> float:
    assert value.endswith("s") and value[:-1].isdigit(), value
    return float(value[:-1])


def test_compose_has_two_gateways_redis_and_prometheus(compose) -> None:
    gateways = _gateways(compose)
    assert len(gateways) == 2
    for svc in gateways.values():
        assert svc["build"] == {"context": "..", "dockerfile": "Dockerfile"}
        assert (DEPLOY / svc["build"]["context"] / svc["build"]["dockerfile"]).resolve() == ROOT / "Dockerfile"
        assert svc["depends_on"]["redis"]["condition"] == "service_healthy"
    assert "redis" in compose["services"] and "prometheus" in compose["services"]


def test_compose_ports_and_config_agree_with_the_gateway(compose) -> None:
    host_ports = set()
    outer = {"LLMG_API_KEY": "sk-gw"}  # what the operator exports (compose insists on it)
    for name, svc in _gateways(compose).items():
        env = {key: compose_interpolate(str(value), outer) for key, value in svc["environment"].items()}
        mounts = {}
        for volume in svc["volumes"]:
            source, target, *_ = volume.split(":")
            mounts[target] = DEPLOY / source
        config_file = mounts[env["LLMG_CONFIG"]]
        loaded = parse_config(config_file.read_text(), str(config_file), env)
        assert not loaded.unset_vars, (name, loaded.unset_vars)
        assert auth_problem(loaded) is None
        config = loaded.config
        # Ports: the container side of every mapping is the port the gateway listens on.
        assert str(config.server.port) == env["LLMG_PORT"]
        for mapping in svc["ports"]:
            host, container = mapping.split(":")
            assert int(container) == config.server.port
            host_ports.add(host)
        assert int(env["LLMG_WORKERS"]) >= 1
        # Limits are shared through the compose Redis.
        assert config.limits.backend == "redis"
        redis = urlsplit(config.limits.redis_url)
        assert redis.hostname in compose["services"] and (redis.port or 6379) == 6379
        # Compose's SIGKILL comes after the drain has had its time.
        assert _seconds(svc["stop_grace_period"]) > config.server.drain_timeout
    assert len(host_ports) == 2, "each replica has its own host port"


def test_compose_refuses_to_start_without_a_gateway_key(compose) -> None:
    svc = next(iter(_gateways(compose).values()))
    with pytest.raises(AssertionError, match="LLMG_API_KEY"):
        compose_interpolate(str(svc["environment"]["LLMG_API_KEY"]), {})


def test_prometheus_scrapes_both_gateways(compose) -> None:
    prometheus = compose["services"]["prometheus"]
    source, target, *_ = prometheus["volumes"][0].split(":")
    assert target == "/etc/prometheus/prometheus.yml"
    scrape = yaml.safe_load((DEPLOY / source).read_text())
    (job,) = scrape["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    targets = {t for group in job["static_configs"] for t in group["targets"]}
    port = parse_config((DEPLOY / "llmg.toml").read_text(), "x", {"LLMG_API_KEY": "k"}).config.server.port
    assert targets == {f"{name}:{port}" for name in _gateways(compose)}


# --------------------------------------------------------------------------------------------
# deploy/kubernetes/


@pytest.fixture(scope="module")
def k8s() -> dict[tuple[str, str], dict[str, Any]]:
    return kubernetes_objects()


def _pod(k8s) -> dict[str, Any]:
    return k8s[("Deployment", "llmg")]["spec"]["template"]["spec"]


def _container(k8s) -> dict[str, Any]:
    (container,) = _pod(k8s)["containers"]
    return container


def _pod_environment(k8s) -> dict[str, str]:
    """What the container's environment holds: its env values plus every referenced Secret."""
    container = _container(k8s)
    env = {item["name"]: item["value"] for item in container.get("env", []) if "value" in item}
    for source in container.get("envFrom", []):
        secret = k8s[("Secret", source["secretRef"]["name"])]
        env.update(secret["stringData"])
    return env


def _config(k8s):
    pod = _pod(k8s)
    container = _container(k8s)
    env = _pod_environment(k8s)
    mount = next(m for m in container["volumeMounts"] if env["LLMG_CONFIG"].startswith(m["mountPath"] + "/"))
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    config_map = k8s[("ConfigMap", volume["configMap"]["name"])]
    (item,) = [i for i in volume["configMap"]["items"] if mount["mountPath"] + "/" + i["path"] == env["LLMG_CONFIG"]]
    return parse_config(config_map["data"][item["key"]], "configmap llmg.toml", env)


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    files = {p.name for p in KUBERNETES.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files


def test_k8s_config_map_parses_with_the_pod_environment_and_uses_redis(k8s) -> None:
    loaded = _config(k8s)
    assert not loaded.unset_vars, loaded.unset_vars
    assert auth_problem(loaded) is None
    config = loaded.config
    assert config.limits.backend == "redis"
    # The Redis connection points at the in-cluster Redis Service and its port.
    redis = urlsplit(config.limits.redis_url)
    service = k8s[("Service", redis.hostname)]
    assert (redis.port or 6379) in {p["port"] for p in service["spec"]["ports"]}
    redis_pods = next(d for d in k8s.values() if d["kind"] == "Deployment"
                      and d["spec"]["template"]["metadata"]["labels"] == service["spec"]["selector"])
    assert redis_pods["metadata"]["name"] == "llmg-redis"
    assert int(_pod_environment(k8s)["LLMG_PORT"]) == config.server.port


def test_k8s_probes_hit_real_routes_on_the_gateway_port(k8s, served_paths) -> None:
    container = _container(k8s)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    config = _config(k8s).config
    assert ports["http"] == config.server.port
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        get = container[probe]["httpGet"]
        assert get["path"] in served_paths
        assert ports.get(get["port"], get["port"]) == config.server.port


def test_k8s_termination_grace_outlasts_the_drain(k8s) -> None:
    config = _config(k8s).config
    container = _container(k8s)
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    pause = float(pre_stop[-1]) if pre_stop[0] == "sleep" else 0.0
    # preStop pause + drain + Sanic's final 3 s close, all before the kubelet's SIGKILL.
    assert _pod(k8s)["terminationGracePeriodSeconds"] > pause + config.server.drain_timeout + 3


def test_k8s_pod_is_non_root_and_bounded(k8s) -> None:
    pod = _pod(k8s)
    container = _container(k8s)
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    resources = container["resources"]
    assert resources["requests"]["cpu"] and resources["requests"]["memory"] and resources["limits"]["memory"]
    # One worker per requested core.
    assert int(_pod_environment(k8s)["LLMG_WORKERS"]) == int(resources["requests"]["cpu"])


def test_k8s_service_pdb_and_hpa_select_the_gateway(k8s) -> None:
    deployment = k8s[("Deployment", "llmg")]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"] == labels
    container_ports = {p["name"]: p["containerPort"] for p in _container(k8s)["ports"]}

    service = k8s[("Service", "llmg")]
    assert service["spec"]["selector"] == labels
    for port in service["spec"]["ports"]:
        assert port["targetPort"] in container_ports

    pdb = k8s[("PodDisruptionBudget", "llmg")]
    assert pdb["spec"]["selector"]["matchLabels"] == labels
    assert 1 <= pdb["spec"]["minAvailable"] < deployment["spec"]["replicas"]

    hpa = k8s[("HorizontalPodAutoscaler", "llmg")]
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "llmg")
    (metric,) = hpa["spec"]["metrics"]
    assert metric["type"] == "Resource" and metric["resource"]["name"] == "cpu"
    # An HPA on CPU utilisation needs a CPU request to measure against; and the PDB stays satisfiable.
    assert _container(k8s)["resources"]["requests"]["cpu"]
    assert hpa["spec"]["minReplicas"] > pdb["spec"]["minAvailable"]


def test_k8s_secrets_are_placeholders_only(k8s) -> None:
    """The committed Secret must not carry a real key: empty, a placeholder, or the Redis URL."""
    for (kind, name), doc in k8s.items():
        if kind != "Secret":
            continue
        for key, value in doc["stringData"].items():
            assert value == "" or value.startswith("replace-me") or value.startswith("redis://"), (name, key)


def test_yaml_files_all_parse() -> None:
    for path in [*DEPLOY.glob("*.yaml"), *DEPLOY.glob("*.yml"), *KUBERNETES.glob("*.yaml")]:
        assert yaml_documents(Path(path)), path
