"""The fast decoding loop: same greedy tokens as ``generate`` when exact, deltas that join to the
text, stops at the end of the turn, honours max_new_tokens, falls back where it cannot run.

The real embedded model proves parity on real prompts; tiny random Llama/Qwen2 models (built here,
no download) cover the architecture switches (GQA, q/k/v biases) in a second.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from airbot.config import ChatConfig
from airbot.generate.hf_generate import GenerationStats
from airbot.generate.hf_generate import stream_chat as generate_stream_chat
from airbot.generate.kernels import choose_int8_kernel, prepack_qint8, qint8_available, quantize_int8
from airbot.generate.stream import (
    FastGenSettings,
    Linear,
    TextDeltas,
    engine_for,
    next_token,
    quantize_int4,
    stream_chat,
    unsupported_reason,
)

EXACT = FastGenSettings(quantize="none", threads=1)
FAST = FastGenSettings(quantize="auto", threads=1)
INT8 = choose_int8_kernel()["kernel"]  # int8 weights run through the kernel this machine measured faster
QUESTIONS = ["How heavy can my checked bag be on an international flight?", "What is the capital of France?"]


def _messages(question: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": ChatConfig().system_prompt}, {"role": "user", "content": question}]


def _run(model, tokenizer, question: str, chat: ChatConfig, settings: FastGenSettings | None = None):
    stats = GenerationStats()
    if settings is None:
        deltas = list(generate_stream_chat(model, tokenizer, _messages(question), chat, stats))
    else:
        deltas = list(stream_chat(model, tokenizer, _messages(question), chat, stats, settings=settings))
    return deltas, stats


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """generate and the loop both on one thread: fair, and not stalled by a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tokenizer():
    from airbot.models import load_tokenizer

    return load_tokenizer()


@pytest.fixture(scope="module")
def bf16_model():
    from airbot.models import load_causal_lm

    return load_causal_lm(dtype=torch.bfloat16).eval()


def test_greedy_equals_generate_on_the_real_model(bf16_model, tokenizer):
    """Exact weights give generate's greedy tokens (same model, same bf16 dtype)."""
    chat = ChatConfig(max_new_tokens=24)
    for question in QUESTIONS:
        expected, hf_stats = _run(bf16_model, tokenizer, question, chat)
        got, stats = _run(bf16_model, tokenizer, question, chat, EXACT)
        assert "".join(got) == "".join(expected), question
        assert stats.new_tokens == hf_stats.new_tokens and stats.prompt_tokens == hf_stats.prompt_tokens


def test_quantized_weights_are_int4_where_lossless_and_answer_the_same_way(bf16_model, tokenizer):
    """The embedded model's linears are Q4_1 values, so they repack to int4; answers stay on topic.

    bf16 greedy decoding flips at near-ties (a scale rounded to bf16 is enough; where it flips depends
    on the CPU's kernels: on an AVX512-VNNI Xeon without BF16 the 7th word differs), so the check is
    that the answer's first words agree, not that every token does; bench/chat.py scores facts.
    """
    engine = engine_for(bf16_model, FAST)
    assert engine is not None and engine.kinds.get("int4", 0) == 120 and engine.kinds.get(INT8) == 1
    chat = ChatConfig(max_new_tokens=16)
    expected, _ = _run(bf16_model, tokenizer, QUESTIONS[0], chat)
    got, stats = _run(bf16_model, tokenizer, QUESTIONS[0], chat, FAST)
    assert "".join(got).split()[:6] == "".join(expected).split()[:6]
    assert stats.first_text is not None and stats.tokens_per_s > 0


def test_an_fp32_model_decodes_int4_with_bf16_rows_and_its_prompt_in_fp32(tokenizer):
    """On a CPU without bf16 units the bots load fp32; the int4 kernel still decodes (bf16 rows, the
    only ones it vectorizes) while the prompt keeps the model's fp32 GEMMs. Same first words as
    fp32 ``generate``; quantize="none" stays exact (same text)."""
    from airbot.models import load_causal_lm

    fp32 = load_causal_lm(dtype=torch.float32).eval()
    engine = engine_for(fp32, FAST)
    assert engine is not None and not engine.exact and engine.dtype == torch.float32
    assert engine.step_dtype == torch.bfloat16 and engine.kinds.get("int4", 0) == 120
    chat = ChatConfig(max_new_tokens=16)
    expected, _ = _run(fp32, tokenizer, QUESTIONS[0], chat)
    got, _ = _run(fp32, tokenizer, QUESTIONS[0], chat, FAST)
    assert "".join(got).split()[:6] == "".join(expected).split()[:6]
    exact, _ = _run(fp32, tokenizer, QUESTIONS[0], chat, EXACT)
    assert "".join(exact) == "".join(expected)


def test_deltas_join_to_the_text_and_stats_are_filled(bf16_model, tokenizer):
    deltas, stats = _run(bf16_model, tokenizer, QUESTIONS[0], ChatConfig(max_new_tokens=24), FAST)
    assert len(deltas) > 5 and all(deltas)
    assert stats.prompt_tokens > 10 and stats.new_tokens == 24
    assert stats.started <= stats.first_text <= stats.finished  # type: ignore[operator]


def test_text_deltas_hold_back_split_characters(tokenizer):
    """Byte-level BPE splits 'é' and emoji across tokens; no '\ufffd' may leak into a delta."""
    text = "Café ✈️ naïve 23 kg — über 😀 done."
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    stream = TextDeltas(tokenizer)
    deltas = [stream.push(t) for t in ids] + [stream.push(None)]
    assert "".join(deltas) == tokenizer.decode(ids, skip_special_tokens=True)
    assert not any("\ufffd" in d for d in deltas)


def test_stops_at_end_of_turn_and_respects_max_new_tokens(bf16_model, tokenizer):
    _, short = _run(bf16_model, tokenizer, "Hello!", ChatConfig(max_new_tokens=96), FAST)
    assert short.new_tokens < 96  # the model ended its turn (<|im_end|>) well before the limit
    deltas, capped = _run(bf16_model, tokenizer, QUESTIONS[0], ChatConfig(max_new_tokens=5), FAST)
    assert capped.new_tokens == 5 and "<|im_end|>" not in "".join(deltas)


def test_sampling_and_top_p():
    logits = torch.tensor([0.0, 5.0, 1.0, 4.9])
    greedy = ChatConfig(temperature=0.0)
    assert next_token(logits, torch.tensor([], dtype=torch.long), greedy) == 1
    # repetition penalty as generate applies it: 5.0 / 2 < 4.9, so token 3 wins.
    assert next_token(logits, torch.tensor([1]), replace(greedy, repetition_penalty=2.0)) == 3
    nucleus = ChatConfig(temperature=1.0, top_p=0.3)
    gen = torch.Generator().manual_seed(0)
    assert {next_token(logits, torch.tensor([], dtype=torch.long), nucleus, gen) for _ in range(20)} == {1}
    wide = ChatConfig(temperature=1.0, top_p=1.0)
    assert len({next_token(logits, torch.tensor([], dtype=torch.long), wide, gen) for _ in range(200)}) > 1


def test_int4_only_where_the_weights_are_on_a_grid():
    levels = torch.randint(0, 16, (64, 128))
    levels[:, ::32], levels[:, 1::32] = 0, 15  # Q4_1 maps each block's min and max to levels 0 and 15
    grid = levels.float() * 0.01 - 0.07
    assert quantize_int4(grid)[2] < 1e-4
    assert Linear(grid, None, "auto", torch.bfloat16).kind == "int4"
    noisy = torch.randn(64, 128) * 0.05
    assert quantize_int4(noisy)[2] > 0.1
    assert Linear(noisy, None, "auto", torch.bfloat16).kind == INT8
    assert Linear(noisy, None, "none", torch.bfloat16).kind == "dense"
    x = torch.randn(1, 128, dtype=torch.bfloat16)
    for mode in ("auto", "int8"):
        out = Linear(noisy, None, mode, torch.bfloat16)(x).float()
        assert torch.allclose(out, x.float() @ noisy.T, atol=0.05, rtol=0.05)


@pytest.mark.skipif(not qint8_available(), reason="FBGEMM int8 needs a VNNI CPU")
def test_fbgemm_int8_multiplies_like_the_plain_int8_kernel():
    """Same int8 weights, two kernels: FBGEMM also rounds the row to 8 bits, which may cost a little
    precision, never the answer's direction."""
    torch.manual_seed(0)
    weight = torch.randn(3072, 576) * 0.02
    x = torch.randn(4, 576).bfloat16()
    x[:, 7] *= 20  # an outlier channel, as LLM activations have: the per-row 8-bit scale must survive it
    q, scale = quantize_int8(weight)
    assert prepack_qint8(q, scale) is not None
    fast = Linear(weight, None, "int8", torch.bfloat16)
    fast.kind, fast.packed = "qint8", prepack_qint8(q, scale)  # whichever kernel this machine chose
    plain = torch._weight_int8pack_mm(x, q, scale.bfloat16()).float()
    exact = x.float() @ weight.T
    got = torch.cat([fast(row[None]).float() for row in x])
    assert float((got - exact).norm() / exact.norm()) < 0.03
    assert float((got - plain).norm() / plain.norm()) < 0.03


def test_a_grid_plus_a_low_rank_change_stays_int4_with_the_change_beside_it():
    """A LoRA merged into the Q4_1 base: int4 keeps the base, the side path the change; rounding
    alone would undo most of a change smaller than half a step."""
    torch.manual_seed(0)
    levels = torch.randint(0, 16, (512, 576))
    levels[:, ::32], levels[:, 1::32] = 0, 15
    grid = levels.float() * 0.01 - 0.07
    delta = (torch.randn(512, 4) @ torch.randn(4, 576)) * 0.0005  # rank 4, ~0.1 step: rounding drops most of it
    merged = grid + delta
    x = torch.randn(8, 576)
    dense = Linear(merged, None, "none", torch.bfloat16)  # same bf16 rounding of x and of the output
    with_side = Linear(merged, None, "auto", torch.bfloat16)
    assert with_side.kind == "int4" and with_side.lora is not None
    noise = grid + torch.randn(512, 576) * 0.003  # not a grid plus a low-rank change (an NF4 base): int8
    assert Linear(noise, None, "auto", torch.bfloat16).kind == INT8
    plain = Linear(merged, None, "int4", torch.bfloat16)
    assert plain.kind == "int4" and plain.lora is None

    def delta_error(lin: Linear) -> float:
        out, exact = (torch.cat([f(row[None].bfloat16()).float() for row in x]) for f in (lin, dense))
        return float((out - exact).norm() / (x @ delta.T).norm())  # 0: the change kept exactly; 1: lost

    assert delta_error(with_side) < 0.3 < delta_error(plain)


def test_scripted_decode_step_equals_the_python_one(bf16_model):
    """TorchScript only removes interpreter time: the same logits as the plain function, also after
    its profiling executor has optimized the graph (a few calls)."""
    from airbot.generate import engine as decode_engine

    engine = engine_for(bf16_model, FAST)
    assert engine is not None and isinstance(decode_engine._decode_step, torch.jit.ScriptFunction)
    logits: dict[str, list[torch.Tensor]] = {}
    with torch.inference_mode():
        for name, fn in (("script", decode_engine._decode_step), ("python", decode_engine._decode_step_py)):
            state = engine.start(24)
            engine.forward(torch.arange(100, 108), state)
            args = (engine.embed, *engine.packed, state.keys, state.values)
            rest = (engine.heads, engine.kv_heads, engine.head_dim, engine.intermediate, engine.eps)
            logits[name] = [fn(7 + p, p, *args, state.qk_cos[p], state.qk_sin[p], *rest) for p in range(8, 16)]
    assert all(torch.equal(a, b) for a, b in zip(logits["script"], logits["python"], strict=True))


def _tiny(model_type: str):
    from transformers import AutoConfig, AutoModelForCausalLM

    torch.manual_seed(0)
    config = AutoConfig.for_model(model_type, vocab_size=49152, hidden_size=64, intermediate_size=128,
                                  num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                  max_position_embeddings=256, tie_word_embeddings=True, eos_token_id=2,
                                  pad_token_id=2, use_sliding_window=False, sliding_window=None)
    return AutoModelForCausalLM.from_config(config).eval()


@pytest.mark.parametrize("model_type", ["llama", "qwen2"])
def test_tiny_architectures_match_generate(model_type, tokenizer):
    """GQA and Qwen2's q/k/v biases go through the same loop, token for token (fp32, exact)."""
    model = _tiny(model_type)
    assert unsupported_reason(model) is None
    chat = ChatConfig(max_new_tokens=12)
    expected, _ = _run(model, tokenizer, QUESTIONS[0], chat)
    got, _ = _run(model, tokenizer, QUESTIONS[0], chat, EXACT)
    assert "".join(got) == "".join(expected)


def test_unsupported_models_fall_back_to_generate(tokenizer):
    from transformers import GPT2Config, GPT2LMHeadModel

    model = GPT2LMHeadModel(GPT2Config(vocab_size=49152, n_embd=32, n_layer=1, n_head=2, eos_token_id=2)).eval()
    assert "gpt2" in (unsupported_reason(model) or "")
    chat = ChatConfig(max_new_tokens=6)
    got, stats = _run(model, tokenizer, QUESTIONS[1], chat, FAST)
    expected, _ = _run(model, tokenizer, QUESTIONS[1], chat)
    assert "".join(got) == "".join(expected) and stats.new_tokens == 6


def _with_lora(model):
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(1)  # init_lora_weights=False: a non-zero B, so the adapter changes the output
    config = LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False)
    return get_peft_model(model, config).eval()


def test_unmerged_lora_matches_generate_and_keeps_the_base_int4(tokenizer, bf16_model):
    """An unmerged LoRA runs as a side path: same tokens as generate on the PeftModel (fp32, exact),
    and on the real model the frozen base weights stay int4 instead of falling back to int8."""
    peft_model = _with_lora(_tiny("llama"))
    assert unsupported_reason(peft_model) is None
    chat = ChatConfig(max_new_tokens=12)
    expected, _ = _run(peft_model, tokenizer, QUESTIONS[0], chat)
    got, _ = _run(peft_model, tokenizer, QUESTIONS[0], chat, EXACT)
    assert "".join(got) == "".join(expected)
    merged_base, _ = _run(_tiny("llama"), tokenizer, QUESTIONS[0], chat, EXACT)
    assert "".join(got) != "".join(merged_base)  # the adapter really took part
    import copy

    engine = engine_for(_with_lora(copy.deepcopy(bf16_model)), FAST)
    assert engine is not None and engine.kinds.get("int4") == 120
    assert all(lin.lora is not None for lyr in engine.layers for lin in (lyr.qkv, lyr.o, lyr.gate_up, lyr.down))


def test_other_peft_methods_fall_back(tokenizer):
    from peft import PromptTuningConfig, get_peft_model

    prompt_tuned = get_peft_model(_tiny("llama"), PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=4))
    assert "PROMPT_TUNING" in (unsupported_reason(prompt_tuned) or "").upper()


def test_bitsandbytes_layers_fall_back():
    """A QLoRA training model keeps its base in packed 4-bit bytes: nothing the loop can read."""
    model = _tiny("llama")
    proj = model.model.layers[0].self_attn.q_proj
    proj.weight = torch.nn.Parameter(torch.zeros(proj.weight.shape, dtype=torch.uint8), requires_grad=False)
    assert "quantized" in (unsupported_reason(model) or "")


def test_the_int8_kernel_is_chosen_by_timing_once_per_cpu_and_kept(fresh_home) -> None:
    """Not assumed from CPU flags: both candidates are timed at first use, the faster is used, and
    the choice is read back (not re-measured) by the next process on the same CPU and torch."""
    import json

    from airbot.generate import kernels

    kernels.choose_int8_kernel.cache_clear()
    try:
        first = kernels.choose_int8_kernel()
        assert first["measured"] and first["kernel"] == min(first["ms"], key=first["ms"].get)
        assert ("qint8" in first["ms"]) == qint8_available()  # FBGEMM only where it computes right (VNNI)
        saved = json.loads((fresh_home / "cache" / "kernels.json").read_text())
        assert saved[first["cpu"]]["kernel"] == first["kernel"]
        kernels.choose_int8_kernel.cache_clear()
        again = kernels.choose_int8_kernel()
        assert not again["measured"] and again["kernel"] == first["kernel"]
        assert Linear(torch.randn(64, 128), None, "int8", torch.bfloat16).kind == first["kernel"]
    finally:
        kernels.choose_int8_kernel.cache_clear()


def test_the_decode_step_is_still_scripted():
    """TorchScript is deprecated; the engine keeps it only because it measured faster (engine._script).
    When a torch drops it this fails, so the Python step's speed is measured and the choice redone."""
    from airbot.generate import engine

    assert isinstance(engine._decode_step, torch.jit.ScriptFunction), "TorchScript is gone: re-measure engine._script"
