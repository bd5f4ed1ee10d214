"""A merged Llama-family model written as one GGUF file (llama.cpp's format), with the gguf package.

The tensors are renamed with gguf's own name map, Q and K are permuted the way llama.cpp's
converter does (transformers' GGUF loader undoes it), 2-D weights are quantized with gguf's
quantizers (``q8_0``, ``q4_1``: the scheme of the packaged SmolLM2 file, ``f16``) and norms stay
f32. The tokenizer travels as the GGUF metadata of the packaged embedded model, so the file is
self-contained; the chat template is the merged export's, with the run's system prompt as default::

    python -m airbot export --run RUN --format gguf --quant q8_0 --out exports/

K-quants (q4_k_m) need llama.cpp's own ``llama-quantize``, which is not on PyPI: gguf's Python
quantizers cover q8_0 / q4_0 / q4_1 only, so airbot offers q4_1 as its 4-bit option.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np

from airbot.errors import JobError

Quant = Literal["f16", "q8_0", "q4_1"]
QUANTS: tuple[Quant, ...] = ("f16", "q8_0", "q4_1")


def _permute(weights: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's rotary layout for Q/K rows (convert_hf_to_gguf.py ``LlamaModel.permute``)."""
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


def write_gguf(model_dir: Path, target: Path, quant: Quant, tokenizer_gguf: Path,
               progress: Callable[[float, str], None] | None = None) -> Path:
    """Write the safetensors model in ``model_dir`` as ``target`` (atomically: a tmp file renamed)."""
    import gguf
    from safetensors.numpy import load_file
    from transformers import AutoConfig, AutoTokenizer

    if quant not in QUANTS:
        raise JobError(f"GGUF quantization '{quant}' is not offered; choose one of {', '.join(QUANTS)} "
                       f"(q4_k_m needs llama.cpp's llama-quantize on the f16 file).")
    config = AutoConfig.from_pretrained(model_dir)
    if config.model_type != "llama":
        raise JobError(f"GGUF export writes Llama-family models; this run's base is a '{config.model_type}' model. "
                       f"Use llama.cpp's convert_hf_to_gguf.py on the merged export instead.")
    tmp = target.with_name(target.name + ".tmp")
    writer = gguf.GGUFWriter(str(tmp), "llama")
    _write_metadata(writer, config, quant, target.stem)
    _copy_tokenizer(writer, tokenizer_gguf)
    template = AutoTokenizer.from_pretrained(model_dir).chat_template
    if template:
        writer.add_chat_template(template)
    tensors = {k: v for f in sorted(model_dir.glob("*.safetensors")) for k, v in load_file(f).items()}
    _add_tensors(writer, tensors, config, quant, progress)
    try:
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    finally:
        writer.close()
    tmp.replace(target)
    return target


def _write_metadata(writer: Any, config: Any, quant: Quant, name: str) -> None:
    import gguf

    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    legacy_rope = getattr(config, "rope_theta", 10000.0)  # its own statement: inline, mypy infers it as Any | None
    rope = (getattr(config, "rope_parameters", None) or {}).get("rope_theta") or legacy_rope
    writer.add_name(name)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_rope_dimension_count(head_dim)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_rope_freq_base(float(rope))
    writer.add_vocab_size(config.vocab_size)
    writer.add_file_type({"f16": gguf.LlamaFileType.MOSTLY_F16, "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0,
                          "q4_1": gguf.LlamaFileType.MOSTLY_Q4_1}[quant])


def _copy_tokenizer(writer: Any, source: Path) -> None:
    """Every ``tokenizer.*`` key of the packaged GGUF (vocabulary, merges, special ids) but its chat
    template, which the merged export's replaces."""
    import gguf

    reader = gguf.GGUFReader(str(source))
    for key, field in reader.fields.items():
        if not key.startswith("tokenizer.") or key == "tokenizer.chat_template":
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(key, field.contents(), vtype, sub_type=sub)


def _add_tensors(writer: Any, tensors: dict[str, np.ndarray], config: Any, quant: Quant,
                 progress: Callable[[float, str], None] | None) -> None:
    import gguf
    from gguf import quants

    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, config.num_hidden_layers)
    qtype = {"f16": gguf.GGMLQuantizationType.F16, "q8_0": gguf.GGMLQuantizationType.Q8_0,
             "q4_1": gguf.GGMLQuantizationType.Q4_1}[quant]
    tied = getattr(config, "tie_word_embeddings", False)
    for i, (hf_name, data) in enumerate(sorted(tensors.items())):
        if tied and hf_name == "lm_head.weight":
            continue  # llama.cpp reuses token_embd for the output when there is no output tensor
        name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if name is None:
            raise JobError(f"GGUF export does not know where tensor '{hf_name}' goes; the model is not a plain Llama.")
        data = data.astype(np.float32)
        if hf_name.endswith("q_proj.weight"):
            data = _permute(data, config.num_attention_heads)
        elif hf_name.endswith("k_proj.weight"):
            data = _permute(data, config.num_key_value_heads)
        if data.ndim == 1:
            writer.add_tensor(name, data)
        elif qtype == gguf.GGMLQuantizationType.F16:
            writer.add_tensor(name, data.astype(np.float16))
        else:
            packed = quants.quantize(data, qtype)
            writer.add_tensor(name, packed, raw_shape=packed.shape, raw_dtype=qtype)
        if progress:
            progress(0.5 + 0.45 * (i + 1) / len(tensors), f"GGUF: {name}")
