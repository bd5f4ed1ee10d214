"""One typed configuration for every airbot job.

Recipes in ``configs/*.yaml`` mirror these dataclasses key for key; precedence is
defaults < YAML < ``--set section.key=value``. Unknown keys and bad values are collected
into one ``ConfigError`` so a recipe is fixed in one pass. The resolved config is written
next to each run so a UI run can be replayed from the CLI::

    python -m airbot train --config configs/airline-qlora.yaml --set train.epochs=1
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from airbot.errors import ConfigError
from airbot.hosting import default_home
from airbot.storage import write_text

Method = Literal["qlora", "lora", "full", "prompt", "prefix"]
"""The five ways a run trains the base model; every picker, flag and table takes them from here."""
METHODS: tuple[Method, ...] = typing.get_args(Method)
BotKind = Literal["base", "finetuned", "rag", "hybrid"]
"""The four bots the app compares."""
BOT_KINDS: tuple[BotKind, ...] = typing.get_args(BotKind)
ADAPTER_BOTS: tuple[BotKind, ...] = ("finetuned", "hybrid")
"""Bots that load a run's adapter."""
RETRIEVAL_BOTS: tuple[BotKind, ...] = ("rag", "hybrid")
"""Bots that read an index."""


def airbot_home() -> Path:
    """Where datasets, runs, indexes and caches live (``AIRBOT_HOME``, default ``~/.airbot``; on a
    Space with persistent storage ``/data/airbot``, so runs survive restarts: ``hosting.default_home``).
    Each person's files sit in a workspace inside it (``airbot.workspace``).
    """
    home = Path(os.environ.get("AIRBOT_HOME") or default_home()).expanduser()
    home.mkdir(parents=True, exist_ok=True)
    return home


def _f(default: Any, help: str, lo: float | None = None, hi: float | None = None) -> Any:
    """A dataclass field carrying its one-line help (shown by the CLI and the UI) and, for numbers,
    the range ``validate`` accepts (inclusive); the bounds keep one request from exhausting the host."""
    meta = {"help": help, "lo": lo, "hi": hi}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class ModelConfig:
    """Which models answer and embed."""

    base: str = _f("smollm2-135m", "Base LLM: 'smollm2-135m' (embedded), a hub id or a local folder.")
    embedder: str = _f("all-MiniLM-L6-v2", "Sentence embedder: 'all-MiniLM-L6-v2' (embedded), a hub id or a folder.")
    device: Literal["auto", "cpu", "cuda"] = _f("auto", "Where to run: 'auto' picks CUDA when present.")


@dataclass
class DataConfig:
    """How a training set is read and split."""

    path: str = _f("", "Training file (CSV, TSV, JSON, JSONL, Parquet); empty: given with --data (never the sample unasked).")
    heldout_fraction: float = _f(0.1, "Share of rows kept out of training for evaluation.", lo=0, hi=0.9)
    seed: int = _f(42, "Seed of the deterministic train/held-out split.")
    max_tokens: int = _f(512, "Rows longer than this (chat template included) are rejected.", lo=16, hi=32768)


@dataclass
class TrainConfig:
    """How the base model is fine-tuned."""

    method: Method = _f("qlora", "qlora | lora | full | prompt | prefix.")
    epochs: float | Literal["auto"] = _f(
        "auto", "Passes over the training set; 'auto' chooses them from the number of pairs so the set is learned "
                "(airbot.train.budget; the run's config.yaml records the number chosen).", lo=0.1, hi=100)
    max_steps: int = _f(-1, "Stop after this many optimizer steps (-1: run all epochs).", lo=-1, hi=100000)
    batch_size: int = _f(4, "Examples per step on each device.", lo=1, hi=256)
    grad_accum: int = _f(1, "Steps whose gradients add up before an update.", lo=1, hi=1024)
    learning_rate: float = _f(0.0, "Peak learning rate; 0 picks the method's usual one (qlora/lora 2e-3, full 5e-5, "
                                   "prompt 3e-2, prefix 1e-2).", lo=0, hi=1)
    warmup_ratio: float = _f(0.05, "Share of steps spent warming the learning rate up.", lo=0, hi=0.5)
    max_length: int = _f(256, "Tokens per example after the chat template; longer ones are cut.", lo=16, hi=8192)
    lora_r: int = _f(16, "LoRA rank.", lo=1, hi=256)
    lora_alpha: int = _f(32, "LoRA scaling numerator (alpha / r scales the update).", lo=1, hi=4096)
    lora_dropout: float = _f(0.0, "Dropout inside LoRA layers.", lo=0, hi=0.9)
    target_modules: str = _f("all-linear", "Layers that get adapters: 'all-linear' or comma-separated names.")
    num_virtual_tokens: int = _f(20, "Soft-prompt length for prompt and prefix tuning.", lo=1, hi=512)
    precision: Literal["auto", "fp32", "bf16", "fp16"] = _f("auto", "Compute precision; 'auto' uses bf16 where the "
                                                                    "hardware has it.")
    qlora_cpu_base: Literal["nf4-bf16", "nf4-int8", "bitsandbytes"] = _f(
        "nf4-bf16", "QLoRA off CUDA: 'nf4-bf16' quantizes the base to NF4 once and trains on the dequantized weights "
                    "kept in the compute dtype (the same numbers bitsandbytes computes with, no 4-bit memory saving, "
                    "~7% less CPU per step); 'nf4-int8' does the same but multiplies by the frozen base in int8 "
                    "(forward and input gradient, as SwitchBack) where a timing at the start says that is faster: "
                    "~1.2x the tokens/s on a CPU with VNNI, fewer held-out paraphrases right (airbot.train.int8_base); "
                    "'bitsandbytes' keeps 4-bit weights and dequantizes them at every step. CUDA always uses bitsandbytes.")
    gradient_checkpointing: bool = _f(False, "Trade speed for memory; only needed for big models.")
    eval_steps: int = _f(0, "Evaluate held-out loss every N steps (0: once per epoch).", lo=0, hi=1000000)
    group_by_length: bool = _f(True, "Batch examples of similar length together: less padding, faster steps.")
    threads: int = _f(0, "CPU threads for training; 0: the cores the load average leaves free (spinning threads stall).",
                      lo=0, hi=1024)
    probe: bool = _f(True, "Answer general questions before and after training to show forgetting (probe.json).")
    augment: int = _f(0, "Extra wordings of each training question, written offline by templates "
                         "(airbot.train.augment); 0: none.", lo=0, hi=5)
    neftune_alpha: float = _f(0.0, "NEFTune: noise added to the input embeddings while training (0: off; "
                                   "the paper uses 5).", lo=0, hi=50)
    weight_decay: float = _f(0.0, "AdamW weight decay of the trained weights.", lo=0, hi=1)
    loraplus_ratio: float = _f(0.0, "LoRA+ (Hayou et al., 2024): LoRA's B matrices learn this many times faster than "
                                    "its A matrices (peft.optimizers.create_loraplus_optimizer; the paper uses 16). "
                                    "0 or 1: one learning rate for both. LoRA and QLoRA only. Measured at 16 and 1e-3: "
                                    "learns most sets in ~0.75x the passes, fewer held-out paraphrases right "
                                    "(bench/README.md).", lo=0, hi=256)
    replay: float = _f(0.2, "Replay against forgetting: general questions, answered by the base model before "
                            "training, trained alongside, as this share of the pairs (at least 8; 0: off; "
                            "airbot.train.replay).", lo=0, hi=1)
    learned_check: bool = _f(True, "After training, ask every training question again and judge the answers "
                                   "strictly (learned.json: did it learn?).")
    checkpoint_every_s: float = _f(60.0, "Save a resumable checkpoint (weights, optimizer, schedule, data order) after "
                                         "the step that ends each this many seconds of training, keeping the latest "
                                         "only; a stopped, failed or killed run resumes from it (train --resume). "
                                         "0: none.", lo=0, hi=86400)
    seed: int = _f(42, "Seed for initialisation and shuffling.")
    mode: Literal["sft", "raft"] = _f("sft", "sft: Q -> A. raft: retrieved clauses + Q -> A (hybrid bot).")
    raft_index: str = _f("", "raft mode: index (name under AIRBOT_HOME/indexes or folder) whose clauses go into the prompts.")
    raft_distractors: int = _f(1, "raft mode: unrelated retrieved clauses shown beside the right one in each prompt.",
                               lo=0, hi=10)
    raft_oracle_prob: float = _f(0.8, "raft mode: share of prompts that contain the right clause; the rest show only "
                                      "distractors, so the adapter learns to use the clause when it is there.", lo=0, hi=1)


@dataclass
class RagConfig:
    """How documents are chunked, retrieved and shown to the reader model."""

    chunk_tokens: int = _f(160, "Largest chunk in embedder tokens; clauses stay whole when they fit (fixed per index).",
                           lo=32, hi=512)
    top_k: int = _f(3, "Chunks retrieved per question.", lo=1, hi=50)
    context_chunks: int = _f(1, "Chunks actually shown to the model (the small model reads one best).", lo=1, hi=10)
    fusion: Literal["weighted", "rrf", "dense", "bm25"] = _f(
        "weighted", "How dense and BM25 rankings combine: weighted (cosine + bm25_weight x BM25), rrf, dense, bm25.")
    bm25_weight: float = _f(0.1, "weighted fusion: share of the (0-1 scaled) BM25 score added to the cosine.", lo=0, hi=10)
    rrf_k: int = _f(60, "Reciprocal rank fusion damping: larger values flatten the rank differences.", lo=1, hi=1000)
    rerank: bool = _f(True, "Close calls among the best 5 chunks are decided by the reader model: which chunk makes "
                            "the question most likely (airbot.bots.rerank). Costs ~0.4-2 s (median 0.7 s, 1 thread, 2-core "
                            "CPU without bf16) on each question that has a close call (40-80% of them).")
    min_score: float = _f(0.4, "Below this cosine (question vs best chunk) the bot says the documents do not cover it.",
                          lo=-1, hi=1)
    refusal: str = _f("The documents I have do not cover that question, so I cannot answer it.",
                      "What the RAG and hybrid bots say when no passage is relevant enough.")


@dataclass
class ChatConfig:
    """Decoding shared by every bot so comparisons are fair."""

    max_new_tokens: int = _f(128, "Longest answer in tokens.", lo=1, hi=4096)
    temperature: float = _f(0.0, "0 means greedy (reproducible); higher samples.", lo=0, hi=5)
    top_p: float = _f(0.9, "Nucleus sampling cut-off, used only when temperature > 0.", lo=0.01, hi=1)
    repetition_penalty: float = _f(1.0, "Above 1 discourages repeating tokens (small models loop when greedy).", lo=0.5, hi=3)
    system_prompt: str = _f("You are a helpful customer support assistant.", "System message for every bot.")


@dataclass
class AirbotConfig:
    """The whole configuration; each section is a YAML mapping of the same name."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    rag: RagConfig = field(default_factory=RagConfig)
    chat: ChatConfig = field(default_factory=ChatConfig)

    def problems(self) -> list[str]:
        """Every out-of-range value and inconsistent pair, each as one line naming ``section.key``."""
        found: list[str] = []
        for section in dataclasses.fields(self):
            group = getattr(self, section.name)
            for f in dataclasses.fields(group):
                found += _range_problem(f"{section.name}.{f.name}", getattr(group, f.name), f.metadata)
        if self.train.max_steps == 0:
            found.append("'train.max_steps' = 0: use -1 (run all epochs) or a positive number of steps")
        if self.rag.context_chunks > self.rag.top_k:
            found.append(f"'rag.context_chunks' = {self.rag.context_chunks} is more than 'rag.top_k' = {self.rag.top_k}: "
                         f"the reader can only be shown chunks that were retrieved")
        if self.train.mode == "raft" and self.train.method in ("prompt", "prefix"):
            found.append(f"'train.mode' = raft needs a LoRA, QLoRA or full run, not '{self.train.method}'")
        return found

    def validate(self) -> AirbotConfig:
        """Raise one ``ConfigError`` listing every problem (the CLI, YAML recipes and the UI share it)."""
        found = self.problems()
        if found:
            raise ConfigError.collected(f"The configuration has {len(found)} problem(s):", found,
                                        "Change the values above (each key's range is in configs/*.yaml and --help).")
        return self


def _range_problem(key: str, value: Any, meta: Any) -> list[str]:
    lo, hi = meta.get("lo"), meta.get("hi")
    if lo is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return []
    if value != value or not lo <= value <= hi:  # value != value: NaN
        return [f"'{key}' = {value!r} is outside {lo:g}..{hi:g}"]
    return []


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> AirbotConfig:
    """Defaults, then the YAML file, then ``section.key=value`` overrides; all checked at once."""
    raw: dict[str, Any] = {}
    if path:
        raw = _read_yaml(Path(path))
    problems: list[str] = []
    for item in overrides or []:
        _apply_override(raw, item, problems)
    config = _build(AirbotConfig, raw, "", problems)
    problems += [] if problems else config.problems()
    if problems:
        where = f" in {path}" if path else ""
        raise ConfigError.collected(f"The configuration{where} has {len(problems)} problem(s):", problems,
                                    "Fix the keys above (see configs/*.yaml for every key with its meaning).")
    return config


def config_to_dict(config: AirbotConfig) -> dict[str, Any]:
    """Plain mapping, ready for YAML or JSON."""
    return dataclasses.asdict(config)


def save_config(config: AirbotConfig, path: Path) -> None:
    """Write the resolved config (atomically) so a run can be replayed with ``--config``."""
    write_text(path, yaml.safe_dump(config_to_dict(config), sort_keys=False))


def field_help(section: str, key: str) -> str:
    """The one-line help of ``section.key``, for CLI and UI labels."""
    section_type = _section_types()[section]
    return next(f.metadata.get("help", "") for f in dataclasses.fields(section_type) if f.name == key)


def _section_types() -> dict[str, type]:
    hints = typing.get_type_hints(AirbotConfig)
    return {f.name: hints[f.name] for f in dataclasses.fields(AirbotConfig)}


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"Config file {path} does not exist. Pass a path to a YAML recipe such as configs/airline-qlora.yaml.")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"Config file {path} is not valid YAML: {err}. Fix the syntax at the line shown.") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"Config file {path} must be a mapping of sections (model:, train:, ...), not {type(raw).__name__}.")
    return raw


def _apply_override(raw: dict[str, Any], item: str, problems: list[str]) -> None:
    key, sep, value = item.partition("=")
    parts = key.strip().split(".")
    if not sep or len(parts) != 2 or not all(parts):
        problems.append(f"override '{item}': write it as section.key=value, e.g. train.epochs=1")
        return
    section = raw.setdefault(parts[0], {})
    if not isinstance(section, dict):
        problems.append(f"override '{item}': '{parts[0]}' is not a section")
        return
    section[parts[1]] = yaml.safe_load(value) if value.strip() else ""


def _build(cls: type, raw: Any, prefix: str, problems: list[str]) -> Any:
    """Instantiate dataclass ``cls`` from ``raw``, recording every problem instead of stopping."""
    if not isinstance(raw, dict):
        problems.append(f"'{prefix.rstrip('.')}' must be a mapping, got {raw!r}")
        return cls()
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for unknown in sorted(set(raw) - names):
        problems.append(f"unknown key '{prefix}{unknown}' (known: {', '.join(sorted(names))})")
    values: dict[str, Any] = {}
    for name in names & set(raw):
        hint = hints[name]
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            values[name] = _build(hint, raw[name], f"{prefix}{name}.", problems)
        else:
            ok, value = _coerce(raw[name], hint)
            if ok:
                values[name] = value
            else:
                problems.append(f"'{prefix}{name}' = {raw[name]!r}: expected {_describe(hint)}")
    return cls(**values)


def _coerce(value: Any, hint: Any) -> tuple[bool, Any]:
    origin = typing.get_origin(hint)
    if origin is Literal:
        return value in typing.get_args(hint), value
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(hint):
            if arg is type(None) and value is None:
                return True, None
            ok, out = _coerce(value, arg)
            if ok and arg is not type(None):
                return True, out
        return False, value
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return True, float(value)
    if hint is float and isinstance(value, str):  # YAML 1.1 reads "1e9" (no dot) as a string
        try:
            return True, float(value)
        except ValueError:
            return False, value
    if hint is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return True, str(value)
    if hint in (int, bool, str, float):
        return type(value) is hint, value
    return True, value


def _describe(hint: Any) -> str:
    if typing.get_origin(hint) is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    if typing.get_origin(hint) in (typing.Union, types.UnionType):  # 'a number or one of 'auto''
        return " or ".join("a number" if a is float else _describe(a) for a in typing.get_args(hint))
    return getattr(hint, "__name__", str(hint))
