"""The four bots on the real embedded model: answer shape, streaming, sources, refusals, adapters."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from airbot.bots import rerank
from airbot.bots.kinds import Answer, Bot, make_bot
from airbot.config import AirbotConfig, load_config
from airbot.errors import AirbotError, DocumentError, JobError
from airbot.knowledge.index import build_index

POLICY = """# Example Air

## 1. Baggage

1.1 Each passenger may check 2 bags of up to 23 kg each.

1.2 A bicycle is carried for a fee of USD 110 per flight.

## 2. Pets

2.1 Small cats and dogs travel in the cabin for USD 70 per flight.
"""


@pytest.fixture(scope="module")
def config() -> AirbotConfig:
    return load_config(None, ["chat.max_new_tokens=12"])


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("kb")
    (root / "policy.md").write_text(POLICY)
    build_index([root / "policy.md"], root / "index")
    return root / "index"


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real LoRA adapter from two optimizer steps on one example (what run_finetune saves)."""
    import torch
    from peft import LoraConfig, get_peft_model

    from airbot.models import load_causal_lm, load_tokenizer

    run = tmp_path_factory.mktemp("runs") / "tiny-lora"
    tok = load_tokenizer()
    model = get_peft_model(load_causal_lm(device="cpu"), LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    batch = tok("Q: How heavy may my bag be? A: Up to 23 kg.", return_tensors="pt")
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=5e-3)
    for _ in range(2):
        loss = model(**batch, labels=batch["input_ids"]).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.save_pretrained(run / "adapter")
    (run / "status.json").write_text(json.dumps({"name": run.name, "phase": "done", "message": "finished"}))
    return run


def _check_answer(bot: Bot, question: str) -> Answer:
    deltas = list(bot.stream(question))
    answer = bot.answer(question)
    assert isinstance(answer, Answer) and answer.bot == bot.name and answer.question == question
    # greedy: the stream is the answer, unless the check replaced the model's words by the extract
    streamed = answer.text if answer.mode == "generated" else answer.model_text
    assert "".join(deltas).strip() == streamed.strip() and answer.text.strip()
    t = answer.timings
    assert 0 < t.ttft_s <= t.total_s and t.new_tokens > 0 and t.tokens_per_s > 0
    assert isinstance(bot, Bot)
    return answer


def test_base_bot(config: AirbotConfig) -> None:
    answer = _check_answer(make_bot("base", config), "What is the capital of France?")
    assert answer.sources == [] and not answer.refused and answer.timings.retrieval_s == 0


def test_rag_bot_cites_the_clause(config: AirbotConfig, index: Path) -> None:
    bot = make_bot("rag", config, index=index)
    answer = _check_answer(bot, "How much does it cost to take my bike?")
    assert answer.sources[0].clause == "1.2" and answer.sources[0].doc == "policy.md"
    assert answer.timings.retrieval_s > 0 and 0 < answer.sources[0].score <= 1
    out = answer.to_dict()
    assert set(out) >= {"bot", "question", "answer", "sources", "timings"}
    assert set(out["sources"][0]) >= {"doc", "page", "section", "text", "score"}
    assert set(out["timings"]) >= {"retrieval_s", "ttft_s", "total_s", "tokens_per_s"}


def test_rag_bot_shows_the_extract_instead_of_an_answer_that_fails_its_check(config: AirbotConfig,
                                                                              index: Path) -> None:
    """A right answer is shown with its citation; a wrong, vague, empty, looping or leaked one is
    replaced by the best sentences of the sources, never shown beside them; the Answer says which."""
    bot = make_bot("rag", config, index=index)
    question = "What is the fee for a cat in the cabin?"
    sources, refusal, _ = bot.lookup(question)[:3]
    assert refusal is None and sources[0].clause == "2.1"
    right = bot.finish(question, "Cats travel in the cabin for USD 70 per flight.", sources)
    assert right.mode == "generated" and right.text == "Cats travel in the cabin for USD 70 per flight. [1]"
    for wrong in ("Cats travel for USD 110 per flight.", "Cats are welcome on board.", "", "A renewal costs EUR 2 per book.",
                  "Cats cats cats cats cats cats cats cats cats"):
        final = bot.finish(question, wrong, sources)
        assert final.mode == "extract" and final.flags and final.model_text == wrong.strip()
        assert "cabin for USD 70 per flight. [1]" in final.text and (not wrong or wrong not in final.text)
    answer = bot.answer(question)  # 12 new tokens: which one the user reads depends on what the model says
    assert answer.mode in ("generated", "extract") and answer.model_text
    if answer.mode == "generated":
        assert answer.text.startswith(answer.model_text) and answer.text.endswith("[1]")
    assert answer.reading().startswith("Document extract" if answer.mode == "extract" else "The model's answer")


def test_rag_bot_refuses_out_of_scope(config: AirbotConfig, index: Path) -> None:
    bot = make_bot("rag", config, index=index)
    questions = ["What will the weather be like in Paris tomorrow?", "What is the share price of Apple?",
                 "What is the current share price of Example Air?"]  # the airline's own name is no cover
    for question in questions:
        answer = bot.answer(question)
        assert answer.refused and answer.text == config.rag.refusal and answer.sources == []
        assert answer.timings.new_tokens == 0 and "".join(bot.stream(question)) == answer.text


def test_rag_bot_refuses_at_its_index_calibrated_threshold(config: AirbotConfig, tmp_path: Path) -> None:
    """On the telecom terms an in-scope question scoring under the global min_score (0.40) is
    answered, because that index's calibrated threshold is lower; off-topic ones stay refused."""
    telecom = Path(__file__).resolve().parents[1] / "fixtures" / "telecom" / "policy.md"
    bot = make_bot("rag", config, index=build_index([telecom], tmp_path / "index"))
    question = "How long am I tied in when I sign up?"
    assert bot.kb.relevance(question, bot.kb.search(question, 3)) < config.rag.min_score
    sources, refusal, _ = bot.lookup(question)[:3]
    assert refusal is None and "Art. 3.1" in [s.clause for s in sources]  # cited as the document writes it
    assert bot.lookup("How do I bake sourdough bread?").refusal == config.rag.refusal


def test_finetuned_and_hybrid_bots_use_the_adapter(config: AirbotConfig, index: Path, lora_run: Path) -> None:
    import torch

    base = make_bot("base", config)
    tuned = make_bot("finetuned", config, run_dir=lora_run)
    hybrid = make_bot("hybrid", config, run_dir=lora_run, index=index)
    assert tuned.model is hybrid.model and tuned.model is not base.model  # loaded once, merged apart
    assert make_bot("rag", config, index=index).model is base.model
    name = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.equal(tuned.model.state_dict()[name].float(), base.model.state_dict()[name].float())
    _check_answer(tuned, "How heavy may my bag be?")
    assert _check_answer(hybrid, "How heavy may my bag be?").sources[0].clause == "1.1"


def test_bots_stream_concurrently(config: AirbotConfig, lora_run: Path) -> None:
    """Base and fine-tuned answer at the same time from two threads, exactly as they do alone."""
    bots = [make_bot("base", config), make_bot("finetuned", config, run_dir=lora_run)]
    alone = [b.answer("Name a colour.").text for b in bots]
    together: list[str] = ["", ""]

    def run(i: int) -> None:
        together[i] = "".join(bots[i].stream("Name a colour."))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert together == alone


def test_prompt_tuning_adapter_loads_without_merging(config: AirbotConfig, tmp_path: Path) -> None:
    from peft import PromptTuningConfig, get_peft_model

    from airbot.models import load_causal_lm

    run = tmp_path / "prompt-run"
    get_peft_model(load_causal_lm(device="cpu"), PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=4)
                   ).save_pretrained(run / "adapter")
    (run / "status.json").write_text(json.dumps({"phase": "done"}))
    bot = make_bot("finetuned", config, run_dir=run)
    _check_answer(bot, "Hello?")
    # a hybrid bot re-ranks with this model too: virtual tokens in front of every passage still score
    passages = ["Pets fly in the cabin.", "Seats cost EUR 9."]
    scores = rerank.question_scores(bot.model, bot.tokenizer, "Can I bring a cat?", passages)
    assert len(scores) == 2 and all(-20 < s < 0 for s in scores)


def test_clear_errors_before_any_model_loads(config: AirbotConfig, tmp_path: Path) -> None:
    failed = tmp_path / "failed-run"
    failed.mkdir()
    (failed / "status.json").write_text(json.dumps({"phase": "failed", "message": "out of memory"}))
    with pytest.raises(JobError, match=r"failed-run' has no adapter \(status: failed"):
        make_bot("finetuned", config, run_dir=failed)
    with pytest.raises(DocumentError, match="No index at"):
        make_bot("rag", config, index=tmp_path / "missing-index")
    with pytest.raises(AirbotError, match="needs a document index"):
        make_bot("rag", config)
    with pytest.raises(AirbotError, match="needs a fine-tuning run"):
        make_bot("hybrid", config, index=tmp_path)
    with pytest.raises(AirbotError, match="unknown bot"):
        make_bot("oracle", config)
    with pytest.raises(AirbotError, match="question is empty"):
        make_bot("base", config).answer("  ")


def test_rag_bot_sees_a_replaced_document_at_once(config: AirbotConfig, tmp_path: Path) -> None:
    """The Data tab and the bots share one open index: a replace is what the next question searches."""
    from airbot.knowledge.index import open_shared

    (tmp_path / "policy.md").write_text(POLICY)
    build_index([tmp_path / "policy.md"], tmp_path / "index")
    bot = make_bot("rag", config, index=tmp_path / "index")  # a Path: text would be a name in the store
    kb = open_shared(tmp_path / "index", rag=config.rag, embedder=config.model.embedder)
    assert bot.kb is kb
    (tmp_path / "policy-v2.md").write_text(POLICY.replace("USD 110", "USD 130"))
    kb.replace(tmp_path / "policy-v2.md", name="policy.md")
    sources, refusal, _ = bot.lookup("How much does it cost to take my bike?")[:3]
    assert refusal is None and "USD 130" in sources[0].text
