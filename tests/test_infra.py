"""infra/ checked statically: no container engine or cluster runs here, so every file is
parsed and what it names (files, commands, flows, extras, queues) must exist."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import sys
import tomllib
from importlib import import_module
from pathlib import Path

import pytest
import yaml
from prefect import Flow

ROOT = Path(__file__).resolve().parents[1]
INFRA = ROOT / "infra"
DOCKERFILES = ["worker.Dockerfile", "gpu-worker.Dockerfile"]


def _instructions(name: str) -> list[tuple[str, str]]:
    """(instruction, argument) of a Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (INFRA / name).read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            op, _, arg = line.partition(" ")
            out.append((op.upper(), arg.strip()))
    return out


def _extras(text: str) -> set[str]:
    """The extras a ``pip install ".../scoreflow[a,b]"`` installs."""
    found = re.search(r"scoreflow\[([a-z,\s-]+)\]", text)
    assert found, text
    return {e.strip() for e in found.group(1).split(",")}


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _command_exists(word: str) -> bool:
    scripts = _pyproject()["project"]["scripts"]
    venv_bin = Path(sys.executable).parent  # what the install put beside the interpreter
    return word in scripts or (venv_bin / word).exists() or shutil.which(word) is not None


@pytest.mark.parametrize("name", DOCKERFILES)
def test_dockerfile_names_what_exists(name: str):
    steps = _instructions(name)
    assert steps[0][0] == "FROM"
    extras_known = set(_pyproject()["project"]["optional-dependencies"])
    runs = [arg for op, arg in steps if op == "RUN"]
    install = next(r for r in runs if "pip install" in r)
    assert _extras(install) <= extras_known
    for op, arg in steps:
        if op == "COPY":
            source = shlex.split(arg)[0]
            assert (ROOT / source).exists(), (name, source)
    cmd = json.loads(next(arg for op, arg in steps if op == "CMD"))
    assert _command_exists(cmd[0]), cmd
    queue = cmd[cmd.index("--work-queue") + 1]
    assert cmd[cmd.index("--pool") + 1] == "scoreflow"
    assert queue == ("gpu" if name.startswith("gpu") else "cpu")


def test_images_install_the_extras_the_readme_names():
    readme = (ROOT / "README.md").read_text()
    worker_line = next(
        line for line in readme.splitlines() if "pip install" in line and "worker" in line.lower()
    )
    readme_extras = _extras(worker_line)
    cpu = _extras(next(a for o, a in _instructions("worker.Dockerfile") if "pip install" in a))
    gpu = _extras(next(a for o, a in _instructions("gpu-worker.Dockerfile") if "pip install" in a))
    assert cpu == readme_extras
    assert gpu == readme_extras | {"neural"}


def test_compose_services_build_and_run_what_exists():
    compose = yaml.safe_load((INFRA / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "prefect", "s3", "worker", "dask-scheduler", "dask-worker"} <= set(services)
    assert (
        "postgresql+asyncpg://"
        in services["prefect"]["environment"]["PREFECT_API_DATABASE_CONNECTION_URL"]
    )
    for name, service in services.items():
        build = service.get("build")
        if build:
            context = (INFRA / build["context"]).resolve()
            assert context == ROOT, name
            assert (context / build["dockerfile"]).is_file(), name
        command = service.get("command")
        if command and build:  # our image: the command must be installed by it
            assert _command_exists(command[0]), (name, command)
        for dep in service.get("depends_on", []):
            assert dep in services, (name, dep)
    gpu = services["gpu-worker"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["capabilities"] == ["gpu"]
    env = services["worker"]["environment"]
    assert env["PREFECT_API_URL"].startswith("http://prefect:4200")


def test_prefect_yaml_entrypoints_are_flows_and_queues_split_by_gpu():
    spec = yaml.safe_load((INFRA / "prefect.yaml").read_text())
    queues = {}
    for deployment in spec["deployments"]:
        module, _, name = deployment["entrypoint"].rpartition(".")
        flow = getattr(import_module(module), name)
        assert isinstance(flow, Flow), deployment["entrypoint"]
        params = set(flow.parameters.properties)
        assert set(deployment.get("parameters", {})) <= params, deployment["name"]
        pool = deployment["work_pool"]
        queues[deployment["name"]] = (pool["name"], pool["work_queue_name"])
    assert queues["gpu-uploads"] == ("scoreflow-gpu", "gpu")
    assert all(q == ("scoreflow", "cpu") for n, q in queues.items() if n != "gpu-uploads")
    gpu = next(d for d in spec["deployments"] if d["name"] == "gpu-uploads")
    assert gpu["parameters"]["options"]["backend"] in {"ace-step", "musicgen", "stable-audio"}
    template = json.loads((INFRA / "k8s" / "gpu-job-template.json").read_text())
    variables = template["variables"]["properties"]
    assert set(gpu["work_pool"]["job_variables"]) <= set(variables)


def test_gpu_job_template_asks_for_gpus_on_gpu_nodes():
    template = json.loads((INFRA / "k8s" / "gpu-job-template.json").read_text())
    pod = template["job_configuration"]["job_manifest"]["spec"]["template"]["spec"]
    limits = pod["containers"][0]["resources"]["limits"]
    assert limits["nvidia.com/gpu"] == "{{ gpu_count }}"
    assert pod["nodeSelector"] == "{{ node_selector }}"
    variables = template["variables"]["properties"]
    used = set(re.findall(r"\{\{ (\w+) \}\}", json.dumps(template["job_configuration"])))
    assert used <= set(variables), used - set(variables)
    assert variables["gpu_count"]["default"] >= 1
    assert "nvidia.com/gpu.present" in variables["node_selector"]["default"]


@pytest.mark.parametrize(
    ("name", "pool", "queue"),
    [
        ("worker-values.yaml", "scoreflow", "cpu"),
        ("gpu-worker-values.yaml", "scoreflow-gpu", "gpu"),
    ],
)
def test_helm_values_poll_the_right_queue(name: str, pool: str, queue: str):
    values = yaml.safe_load((INFRA / "k8s" / name).read_text())["worker"]
    assert values["apiConfig"] == "server"
    assert values["serverApiConfig"]["apiUrl"].endswith("/api")
    assert values["config"]["workPool"] == pool
    assert values["config"]["workQueues"] == [queue]
