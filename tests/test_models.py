import subprocess
import sys
import time

import pytest

from airbot import models
from airbot.errors import ModelError


def test_embedded_model_is_cached_as_safetensors_and_reloads_fast() -> None:
    path = models.resolve_base_model("smollm2-135m")
    assert (path / "model.safetensors").is_file() and (path / "config.json").is_file()
    assert "quantization_config" not in (path / "config.json").read_text()
    start = time.perf_counter()
    model = models.load_causal_lm("smollm2-135m", device="cpu")
    assert time.perf_counter() - start < 15
    assert model.config.vocab_size > 0


def test_tokenizer_has_chat_template_and_pad() -> None:
    tok = models.load_tokenizer()
    text = tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)
    assert "hi" in text and tok.pad_token is not None


def test_4bit_loading_works_on_cpu() -> None:
    model = models.load_causal_lm(load_in_4bit=True, device="cpu")
    assert any("4bit" in type(m).__name__ for m in model.modules())


def test_embedder_is_embedded_and_shared() -> None:
    emb = models.shared_embedder()
    assert emb is models.shared_embedder()
    assert emb.encode(["baggage"]).shape == (1, 384)


def test_unknown_hub_model_offline_names_the_embedded_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError, match="smollm2-135m"):
        models.resolve_base_model("someone/not-a-real-model")
    with pytest.raises(ModelError, match="all-MiniLM-L6-v2"):
        models.resolve_embedder("someone/not-a-real-embedder")


def test_missing_cuda_is_a_clear_error() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(ModelError, match="no CUDA"):
        models.pick_device("cuda")


def test_importing_airbot_does_not_import_gradio_or_torch() -> None:
    code = ("import sys, airbot, airbot.config, airbot.models, airbot.errors, airbot.cli; "
            "print('gradio' in sys.modules, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
