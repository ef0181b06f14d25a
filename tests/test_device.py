"""QA_DEVICE: auto picks what the machine has, a missing GPU is refused in one sentence (CLI and server),
and the device the model runs on is reported by /stats and the build report."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner
from fastapi.testclient import TestClient
from pydantic import ValidationError

from qa.api.app import create_app
from qa.cli import cli
from qa.index.device import DeviceError, resolve_device
from qa.settings import Settings, describe_settings_error

NO_GPU = not torch.cuda.is_available() and not torch.backends.mps.is_available()
needs_no_gpu = pytest.mark.skipif(not NO_GPU, reason="this machine has a GPU")


def test_settings_default_to_auto():
    assert Settings().device == "auto"


@needs_no_gpu
def test_auto_resolves_to_the_cpu_on_a_machine_without_a_gpu():
    assert resolve_device("auto") == "cpu"
    assert resolve_device("cpu") == "cpu"


def test_auto_on_a_cpu_only_torch_build_is_answered_without_importing_torch():
    import subprocess
    import sys

    from qa.index.device import cpu_only_torch

    script = (
        "import sys\n"
        "from qa.index.device import cpu_only_torch, resolve_device\n"
        "print(cpu_only_torch(), resolve_device('auto'), 'torch' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    only_cpu, device, imported = done.stdout.split()
    assert only_cpu == str(cpu_only_torch())
    if only_cpu == "True":  # the pinned CPU wheel: nothing to ask torch
        assert device == "cpu" and imported == "False"
    else:  # a CUDA build (or macOS): torch is asked
        assert imported == "True"


@needs_no_gpu
@pytest.mark.parametrize("name", ["cuda", "cuda:1", "mps"])
def test_a_gpu_this_machine_lacks_is_refused_in_one_sentence(name):
    with pytest.raises(DeviceError) as refused:
        resolve_device(name)
    message = str(refused.value)
    assert message.startswith(f"QA_DEVICE={name} asks for")
    assert "\n" not in message and message.count(". ") == 0 and message.endswith(".")
    assert "QA_DEVICE=auto or cpu" in message


def test_a_name_that_is_no_device_is_a_settings_error():
    with pytest.raises(ValidationError) as refused:
        Settings(device="gpu")
    assert "QA_DEVICE: device must be one of auto, cpu, cuda, cuda:N or mps" in describe_settings_error(
        refused.value
    )


@needs_no_gpu
@pytest.mark.parametrize(
    "command", [["ask", "魏都区委书记是谁？"], ["eval", "--questions", "tests/data/dev.jsonl"]]
)
def test_cli_with_cuda_on_a_cpu_machine_prints_the_sentence_not_a_traceback(settings, monkeypatch, command):
    monkeypatch.setenv("QA_DEVICE", "cuda")
    result = CliRunner().invoke(cli, [*command, "--index-dir", str(settings.index_dir)])
    assert result.exit_code == 1
    assert result.output.startswith("Error: QA_DEVICE=cuda asks for a CUDA GPU")
    assert "Traceback" not in result.output and result.exception.__class__ is SystemExit


@needs_no_gpu
def test_serve_with_cuda_on_a_cpu_machine_refuses_before_the_server_starts(settings, monkeypatch):
    monkeypatch.setenv("QA_DEVICE", "cuda")
    result = CliRunner().invoke(cli, ["serve", "--index-dir", str(settings.index_dir)])
    assert result.exit_code == 1 and "QA_DEVICE=cuda asks for a CUDA GPU" in result.output


@needs_no_gpu
def test_server_with_cuda_on_a_cpu_machine_says_why_on_health(settings):
    app = create_app(settings.model_copy(update={"device": "cuda"}))
    with TestClient(app) as client:
        assert app.state.index.wait(600)
        health = client.get("/health")
        assert health.status_code == 503
        assert "QA_DEVICE=cuda asks for a CUDA GPU" in health.json()["detail"]


def test_stats_say_which_device_the_model_runs_on(settings, embedder, reader):
    app = create_app(settings, embedder=embedder, reader=reader)
    with TestClient(app) as client:
        assert app.state.index.wait(600)
        assert client.get("/stats").json()["device"] == embedder.device == "cpu"


def test_build_report_and_manifest_name_the_device(tmp_path, embedder):
    from qa.index.build import build_index

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    article = {"id": "bridge", "title": "大桥通车", "date": "2020-12-02", "text": "清潩河大桥正式通车。"}
    (corpus / "a.jsonl").write_text(json.dumps(article, ensure_ascii=False) + "\n", encoding="utf-8")
    report = build_index(corpus, tmp_path / "index", embedder, progress=False)
    assert report.device == "cpu" and "chunks/s on cpu)" in report.summary()
    manifest = json.loads((report.path / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["device"] == "cpu"
