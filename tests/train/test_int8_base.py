"""QLoRA's frozen base multiplied in int8 (``train.qlora_cpu_base: nf4-int8``): torch still has the
integer kernel, the product is close to the float one forward and backward, it goes only under LoRA
layers of the real 135M model, and ``remove`` leaves no trace before the adapter is merged."""

from __future__ import annotations

from pathlib import Path

import torch

from airbot.config import load_config
from airbot.models import load_tokenizer
from airbot.rounding import quantize_rows
from airbot.train.builders import build_peft_config, build_trainer
from airbot.train.finetune import resolve_train_config
from airbot.train.int8_base import base_layers, install, int8_linear, int8_pays, remove
from airbot.train.model import load_model
from airbot.train.sft_data import prepare_data

SAMPLE = Path(__file__).resolve().parents[2] / "airbot" / "samples" / "airline_train.jsonl"


def _relative_error(got: torch.Tensor, want: torch.Tensor) -> float:
    return ((got - want).norm() / want.norm()).item()


def test_torch_still_has_the_exact_int8_product() -> None:
    """``torch._int_mm`` is private API: if the pinned torch drops or breaks it, this fails first."""
    a = torch.randint(-127, 128, (7, 64), dtype=torch.int8)
    w = torch.randint(-127, 128, (24, 64), dtype=torch.int8)
    assert torch.equal(torch._int_mm(a, w.t()), a.int() @ w.int().t())  # the weight's transposed view, as used
    assert torch.equal(torch._int_mm(a.t().contiguous().t(), w.t()), a.int() @ w.int().t())


def test_rows_are_rounded_with_their_own_scale() -> None:
    x = torch.tensor([[0.5, -1.0, 0.25], [0.0, 0.0, 0.0], [100.0, 1.0, -50.0]])
    q, scale = quantize_rows(x)
    assert q.dtype == torch.int8 and q[0].tolist() == [64, -127, 32] and q[1].tolist() == [0, 0, 0]
    assert q[2].tolist() == [127, 1, -64] and torch.allclose(q.float() * scale, x, atol=0.4)
    assert torch.equal(x, torch.tensor([[0.5, -1.0, 0.25], [0.0, 0.0, 0.0], [100.0, 1.0, -50.0]]))  # input untouched


def test_int8_product_is_close_to_the_float_product_forward_and_backward() -> None:
    torch.manual_seed(0)
    layer = torch.nn.Linear(96, 160)
    x = torch.randn(2, 33, 96, requires_grad=True)
    y = layer(x)
    grad = torch.randn_like(y)
    y.backward(grad)
    want_dx, x.grad = x.grad, None
    w = layer.weight.detach()
    scale = w.abs().amax(dim=1) / 127
    q = torch.round(w / scale[:, None]).to(torch.int8)
    got = int8_linear(x, q, scale, layer.bias)
    got.backward(grad)
    assert got.shape == y.shape and x.grad is not None
    assert _relative_error(got, y) < 0.02 and _relative_error(x.grad, want_dx) < 0.02
    assert _relative_error(got, y) > 0  # the rounding is real: the bound above can fail


def test_switched_on_only_under_lora_and_removed_without_a_trace(tmp_path: Path) -> None:
    from peft import get_peft_model

    rows = tmp_path / "two.jsonl"
    rows.write_text("\n".join(SAMPLE.read_text().splitlines()[:2]) + "\n")
    config = resolve_train_config(load_config(None, ["train.method=qlora", "train.max_length=128", "train.probe=false",
                                                     "model.device=cpu", f"data.path={rows}"]))
    tok = load_tokenizer()
    row = prepare_data(config, None, tok).train[0]
    ids, labels = torch.tensor([row["input_ids"]]), torch.tensor([row["labels"]])
    model = get_peft_model(load_model(config, "cpu", torch.float32), build_peft_config(config))
    keys = set(model.state_dict())
    with torch.no_grad():
        plain = model(input_ids=ids).logits
    assert install(model) == 30 * 7  # q, k, v, o, gate, up, down in each of the 30 layers; not the LM head
    assert set(model.state_dict()) == keys  # nothing new would be saved with the adapter
    with torch.no_grad():
        plain_loss = model(input_ids=ids, labels=labels).loss.item()
    loss = model(input_ids=ids, labels=labels).loss
    loss.backward()
    with torch.no_grad():
        rounded = model(input_ids=ids).logits
    # 30 layers of rounded activations (measured on 6 sample rows: logits 18% off, the same top token at 88% of
    # positions, loss +2%): a noise of the order of the NF4 rounding itself, not a different model
    assert _relative_error(rounded, plain) < 0.3 and (rounded.argmax(-1) == plain.argmax(-1)).float().mean() > 0.75
    assert abs(loss.item() - plain_loss) < 0.1 * plain_loss
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for n, p in model.named_parameters() if "lora_B" in n)
    remove(model)
    with torch.no_grad():
        assert torch.equal(model(input_ids=ids).logits, plain)


def test_the_trainer_switches_it_on_where_it_measured_faster_and_never_for_nf4_bf16(tmp_path: Path) -> None:
    rows = tmp_path / "two.jsonl"
    rows.write_text("\n".join(SAMPLE.read_text().splitlines()[:2]) + "\n")
    tok = load_tokenizer()
    for base, expected in (("nf4-int8", int8_pays(torch.float32)), ("nf4-bf16", False)):
        config = resolve_train_config(load_config(None, [
            "train.method=qlora", "train.max_length=128", "train.probe=false", "model.device=cpu", "train.precision=fp32",
            f"train.qlora_cpu_base={base}", f"data.path={rows}"]))
        trainer = build_trainer(config, load_model(config, "cpu", torch.float32), tok, prepare_data(config, None, tok),
                                tmp_path / base, device="cpu")
        switched = [layer for layer in base_layers(trainer.model) if "forward" in layer.__dict__]
        assert len(switched) == (210 if expected else 0), base
