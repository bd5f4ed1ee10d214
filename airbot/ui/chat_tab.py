"""Chat tab: one question, the fine-tuned bot and the RAG bot answering side by side.

Both stream at the same time (``airbot.bots.arena.race``); the base model and the hybrid bot can be
added as extra panes. Under each answer: time to first token, tokens/s and total time; under
the retrieval bots: their sources. Votes go to the preference log. ``/ask`` answers one
question with any bots for ``gradio_client``.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from airbot.bots import arena
from airbot.bots.kinds import MAX_QUESTION_CHARS, Answer, ChatBot, check_question, make_bot
from airbot.errors import AirbotError
from airbot.storage import store_root
from airbot.train.runs import default_run, run_choices, run_path
from airbot.ui.errors import user_errors
from airbot.ui.state import AppState, root_block

PANES: dict[str, str] = {"finetuned": "Fine-tuned bot", "rag": "RAG bot", "base": "Base model", "hybrid": "Hybrid bot"}
LEFT, RIGHT = "finetuned", "rag"
EXTRA = {"Base model": "base", "Hybrid bot": "hybrid"}
VOTE_LABELS = {"left": "👈 Fine-tuned better", "right": "👉 RAG better", "tie": "🤝 Tie", "both_bad": "👎 Both bad"}
BLIND_LABELS = {"left": "A is better", "right": "B is better", "tie": "Tie", "both_bad": "Both bad"}


MAX_HISTORY = 40
"""Most earlier messages ``/ask`` takes (20 exchanges): bounded work for one call."""


def example_questions(run: str | None, limit: int = 8) -> list[str]:
    """The picked run's held-out rows as clickable examples: questions from the user's own data
    that the fine-tuned bot never trained on, so the first question asked is a fair test (none
    without a run; never the shipped sample's unless that is what the run trained on)."""
    from airbot.evaluate.questions import run_heldout_questions

    try:
        return run_heldout_questions(run_path(run), limit) if run else []
    except AirbotError:  # a name that is not a run of this workspace: no examples, the pickers say why
        return []


def _examples(run: str | None) -> Any:
    questions = example_questions(run)
    return gr.Dataset(samples=[[q] for q in questions], visible=bool(questions))


def build_bots(kinds: list[str], run: str | None, index: str | None,
               state: AppState | None) -> tuple[dict[str, ChatBot], dict[str, str]]:
    """Bots that can be built, and a one-line reason for each that cannot (shown in its pane);
    without a ``state`` they use the saved settings."""
    bots: dict[str, ChatBot] = {}
    problems: dict[str, str] = {}
    for kind in kinds:
        try:
            bots[kind] = make_bot(kind, state.config if state else None, run_dir=run_path(run) if run else None,
                                  index=index or None)
        except AirbotError as err:
            problems[kind] = str(err).replace("\n", " ")
    return bots, problems


def _text(content: Any) -> str:
    """Gradio 6 hands chat messages back as lists of parts; the bots want plain text."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)
    return ""


def _stats_md(answer: Answer) -> str:
    t = answer.timings
    parts = [f"first token **{t.ttft_s:.2f} s**", f"**{t.tokens_per_s:.1f}** tok/s", f"total **{t.total_s:.2f} s**"]
    if t.retrieval_s:
        parts.insert(0, f"retrieval {t.retrieval_s * 1000:.0f} ms")
    reading = f"{'📄' if answer.mode == 'extract' else '💬'} {answer.reading()}\n\n" if answer.sources else ""
    return reading + "⏱ " + " · ".join(parts) + (" · _refused: not in the documents_" if answer.refused else "")


def _decision_md(answer: Answer) -> str:
    """Why the bot answered or refused: its best match against the index's refusal threshold."""
    line = answer.decision()
    return f"**{line}**\n\n" if line else ""


def _sources_md(answer: Answer) -> str:
    decision = _decision_md(answer)
    if not answer.sources:
        return decision + ("_No sources: the documents do not cover this question._" if answer.refused
                           else "_No sources._")
    lines = [decision.strip()] if decision else []
    for i, s in enumerate(answer.sources, 1):
        where = " · ".join(x for x in (f"p. {s.page}" if s.page else "", s.clause or "",
                                      s.section) if x)
        lines.append(f"**[{i}] {s.doc}** — {where} (score {s.score:.2f})\n> {s.text[:300]}")
    return "\n\n".join(lines)


def ask_side_by_side(question: str, run: str | None, index: str | None, extras: list[str], turns: list[dict],
                     *histories: list[dict], state: AppState) -> Any:
    """Stream every visible bot's answer into its pane; yields all outputs after each delta."""
    question = (question or "").strip()
    if not question:
        raise AirbotError("Type a question first, or pick one of the examples below.")
    check_question(question)  # before any model loads
    kinds = [LEFT, RIGHT, *[EXTRA[e] for e in extras or []]]
    hist = {k: list(h or []) for k, h in zip(PANES, histories)}
    previous = {k: [{"role": m["role"], "content": _text(m.get("content"))} for m in hist[k]] for k in PANES}
    for kind in kinds:
        hist[kind] += [{"role": "user", "content": question}, {"role": "assistant", "content": ""}]
    bots, problems = build_bots(kinds, run, index, state)
    stats = {k: "" for k in PANES}
    sources = {"rag": "", "hybrid": ""}
    for kind, problem in problems.items():
        hist[kind][-1]["content"] = f"⚠️ {problem}"
    yield _outputs(hist, stats, sources, turns, "")
    final = arena.Race()
    for final in arena.race(bots, question, previous):
        for kind, text in final.texts.items():
            hist[kind][-1]["content"] = text or "…"
        for kind, err in final.errors.items():
            hist[kind][-1]["content"] = f"⚠️ {err}"
        yield _outputs(hist, stats, sources, turns, "")
    for kind, answer in final.answers.items():
        stats[kind] = _stats_md(answer)
        if kind in sources:
            sources[kind] = _sources_md(answer)
    turn = {"question": question, "run": run, "index": index,
            "answers": {k: a.to_dict() for k, a in final.answers.items()}, "problems": problems}
    yield _outputs(hist, stats, sources, [*turns, turn], "")


def _outputs(hist: dict, stats: dict, sources: dict, turns: list[dict], prompt: str) -> list[Any]:
    return [*[hist[k] for k in PANES], *[stats[k] for k in PANES], sources["rag"], sources["hybrid"], turns, prompt]


def ask_api(question: str, bots: str = "finetuned,rag", run: str = "", index: str = "default",
            state: AppState | None = None, history: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """Answer one question with several bots at once (``/ask``): {bot: answer dict} plus any problems.
    ``history`` is the conversation so far (``[{"role": "user"|"assistant", "content": ...}, ...]``),
    shared by every bot: a follow-up is answered, and searched, in its context."""
    check_question(question)  # before any model loads
    if history is not None and (not isinstance(history, list)
                                or not all(isinstance(m, dict) and m.get("role") in ("user", "assistant")
                                           and isinstance(m.get("content"), str) for m in history)):
        raise AirbotError('history must be a list of {"role": "user" or "assistant", "content": "..."} messages, '
                          "oldest first.")
    if history and (len(history) > MAX_HISTORY or any(len(m["content"]) > 4 * MAX_QUESTION_CHARS for m in history)):
        raise AirbotError(f"history may hold at most {MAX_HISTORY} messages of {4 * MAX_QUESTION_CHARS:,} characters "
                          "each; send the last few exchanges.")
    kinds = [b.strip() for b in (bots or "").split(",") if b.strip()]
    if not kinds:
        raise AirbotError("Name the bots that should answer, comma-separated: base, finetuned, rag, hybrid.")
    built, problems = build_bots(kinds, run or None, index or None, state)
    if not built:
        raise AirbotError.collected("No bot could answer:", list(problems.values()))
    final = arena.Race()
    shared = {kind: list(history or []) for kind in built}
    for final in arena.race(built, question, shared):  # noqa: B007 - only the last state matters
        pass
    return {"answers": {k: a.to_dict() for k, a in final.answers.items()}, "problems": problems,
            "errors": final.errors}


def vote(choice: str, turns: list[dict], state: AppState) -> tuple[str, pd.DataFrame]:
    """Log a preference for the last question's left vs right answers."""
    if not turns:
        raise AirbotError("Ask a question and let both bots answer before voting.")
    last = turns[-1]
    left, right = last["answers"].get(LEFT, {}), last["answers"].get(RIGHT, {})
    settings = {"run": last.get("run"), "index": last.get("index"), "chat": vars(state.config.chat),
                "rag": vars(state.config.rag), "model": state.config.model.base}
    arena.record_vote(choice, last["question"], left, right, settings)
    return f"Recorded: **{VOTE_LABELS[choice]}** for “{last['question']}”.", tally_frame()


def blind_ask(question: str, run: str | None, index: str | None, state: AppState | None = None) -> tuple[Any, ...]:
    """Two bots drawn at random (of those the picked run and index allow, the base model always)
    answer as "A" and "B", names hidden until the vote. Returns both answers, the duel to vote on,
    and a line for the page."""
    question = (question or "").strip()
    if not question:
        raise AirbotError("Type a question first, or pick one of the examples.")
    available = ["base", *(["finetuned"] if run else []), *(["rag"] if index else []), *(["hybrid"] if run and index else [])]
    pair = arena.blind_pair(available)
    result = ask_api(question, ",".join(pair), run or "", index or "", state)
    broken = {**result["problems"], **result["errors"]}
    if broken:  # shown with its error, a bot would give its name away
        raise AirbotError.collected("The blind comparison needs both bots to answer:", list(broken.values()))
    a, b = (result["answers"][kind] for kind in pair)
    duel = {"question": question, "run": run, "index": index, "a": a, "b": b}
    return _unmarked(a["answer"]), _unmarked(b["answer"]), duel, "Which answer is better? Vote to see who wrote which."


def _unmarked(text: str) -> str:
    """An answer without its citation markers ("[1]"), which only the retrieval bots write."""
    return re.sub(r"\s*\[\d+\]", "", text).strip()


def blind_vote(choice: str, duel: dict[str, Any] | None, state: AppState) -> tuple[str, pd.DataFrame, dict]:
    """Record a blind vote (``"blind": true`` in the preference log), then reveal the names; a
    duel takes one vote."""
    if not duel:
        raise AirbotError("Ask two bots blind first (the button above), then vote.")
    settings = {"run": duel.get("run"), "index": duel.get("index"), "chat": vars(state.config.chat),
                "rag": vars(state.config.rag), "model": state.config.model.base}
    arena.record_vote(choice, duel["question"], duel["a"], duel["b"], settings, blind=True)
    a, b = (PANES.get(duel[k].get("bot", ""), duel[k].get("bot", "?")) for k in ("a", "b"))
    return (f"Recorded **{BLIND_LABELS[choice]}**. A was the **{a}**, B the **{b}**.", tally_frame(), {})


def tally_frame() -> pd.DataFrame:
    table = arena.tally(arena.read_votes())
    rows = [{"bot": bot, **counts} for bot, counts in table.items()]
    return pd.DataFrame(rows, columns=["bot", "wins", "losses", "ties", "both_bad"])


def export(turns: list[dict]) -> str:
    """The conversation with every bot's answers, sources and timings, as a JSON download."""
    if not turns:
        raise AirbotError("Nothing to export yet: ask a question first.")
    exports = store_root() / "exports"  # the asker's workspace; the app hands the file over (ui/identity.py)
    exports.mkdir(exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="airbot-chat-", dir=exports)) / "conversation.json"
    return str(arena.export_conversation(turns, path))


def _refresh(_made: str | None = None) -> tuple[Any, Any]:
    runs, indexes = run_choices(), arena.list_indexes()
    return (gr.Dropdown(choices=runs, value=default_run()),  # one rule with the Evaluate tab
            gr.Dropdown(choices=indexes, value=indexes[0] if indexes else None))


def build(state: AppState) -> None:
    """Pickers, the panes, the prompt, examples and the vote row."""
    with gr.Row():
        run = gr.Dropdown(run_choices(), label="Fine-tuned run (adapter)", scale=2, allow_custom_value=True)
        index = gr.Dropdown(arena.list_indexes(), label="Knowledge index", scale=2, allow_custom_value=True)
        extras = gr.CheckboxGroup(list(EXTRA), label="Also answer with", scale=2)
        refresh = gr.Button("↻ Refresh runs and indexes", scale=1)
    panes, stats, boxes = {}, {}, {}
    srcs: dict[str, Any] = {}
    for row_kinds in ((LEFT, RIGHT), ("base", "hybrid")):
        with gr.Row():
            for kind in row_kinds:
                with gr.Column(visible=kind in (LEFT, RIGHT)) as boxes[kind]:
                    panes[kind] = gr.Chatbot(label=PANES[kind], height=360, elem_id=f"pane-{kind}")
                    stats[kind] = gr.Markdown(elem_id=f"stats-{kind}")
                    if kind in ("rag", "hybrid"):
                        with gr.Accordion("Sources", open=True):
                            srcs[kind] = gr.Markdown(elem_id=f"sources-{kind}")
    with gr.Row():
        prompt = gr.Textbox(placeholder="Ask both bots a question…", show_label=False, scale=5, elem_id="chat-prompt")
        send = gr.Button("Ask both", variant="primary", scale=1)
    examples = gr.Dataset(components=[prompt], samples=[], visible=False, elem_id="chat-examples",
                          label="Questions the run held out of training (try the bots on new wordings)")
    with gr.Row():
        regen, clear, export_btn = gr.Button("↻ Regenerate"), gr.Button("🗑 Clear"), gr.Button("⬇ Export conversation")
    export_file = gr.File(label="Conversation (JSON)", interactive=False, height=90)
    with gr.Row():
        vote_buttons = {choice: gr.Button(label) for choice, label in VOTE_LABELS.items()}
    vote_status = gr.Markdown()
    with gr.Accordion("🙈 Blind comparison: two bots drawn at random, names shown after your vote", open=False):
        gr.Markdown("Asks the question above of two bots drawn from those your run and index allow (the base "
                    "model always), as **A** and **B**. Votes cast here are marked blind; the decision guide "
                    "cites their win rates.")
        blind_send = gr.Button("Ask two bots blind", elem_id="blind-ask")
        with gr.Row():
            blind_a = gr.Markdown(label="Answer A", elem_id="blind-a", container=True)
            blind_b = gr.Markdown(label="Answer B", elem_id="blind-b", container=True)
        with gr.Row():
            blind_buttons = {choice: gr.Button(label) for choice, label in BLIND_LABELS.items()}
        blind_status = gr.Markdown(elem_id="blind-status")
        duel = gr.State({})
    tally = gr.Dataframe(tally_frame(), label="Votes so far", interactive=False)
    turns = gr.State([])
    _wire(state, locals())


def _wire(state: AppState, c: dict[str, Any]) -> None:
    """Events, kept apart from layout so each stays readable."""
    panes, stats, srcs = c["panes"], c["stats"], c["srcs"]
    outputs = [*[panes[k] for k in PANES], *[stats[k] for k in PANES], srcs["rag"], srcs["hybrid"], c["turns"],
               c["prompt"]]
    inputs = [c["prompt"], c["run"], c["index"], c["extras"], c["turns"], *[panes[k] for k in PANES]]

    def ask(*args: Any) -> Any:
        yield from ask_side_by_side(*args, state=state)

    ask = user_errors(ask)
    c["send"].click(ask, inputs, outputs, api_name="chat_ask")
    # named: a private endpoint takes its function's name, which would push the public /ask to /ask_1
    c["prompt"].submit(ask, inputs, outputs, api_name="chat_ask_submit", api_visibility="private")

    def regenerate(prompt: str, run: Any, index: Any, extras: Any, turns: list[dict], *hists: Any) -> Any:
        if not turns:
            raise AirbotError("Nothing to regenerate yet: ask a question first.")
        trimmed = [h[:-2] if len(h) >= 2 else h for h in hists]
        yield from ask_side_by_side(turns[-1]["question"], run, index, extras, turns[:-1], *trimmed, state=state)

    c["regen"].click(user_errors(regenerate), inputs, outputs, api_name="chat_regenerate")
    c["clear"].click(lambda: [[]] * 4 + [""] * 6 + [[], ""], None, outputs, api_name="chat_clear")
    c["export_btn"].click(user_errors(export), c["turns"], c["export_file"], api_name="chat_export")
    c["extras"].change(lambda e: [gr.Column(visible=label in (e or [])) for label in EXTRA], c["extras"],
                       [c["boxes"]["base"], c["boxes"]["hybrid"]], api_visibility="private")
    c["refresh"].click(_refresh, None, [c["run"], c["index"]], api_name="chat_refresh")
    root_block().load(_refresh, None, [c["run"], c["index"]], api_visibility="private")
    state.on_made("run", _refresh, [c["run"], c["index"]])  # a run that just finished training is picked
    c["run"].change(_examples, c["run"], c["examples"], api_visibility="private", show_progress="hidden")
    c["examples"].click(lambda picked: picked[0], c["examples"], c["prompt"], api_visibility="private",
                        show_progress="hidden")
    state.on_made("index", _refresh, [c["run"], c["index"]])  # so is the index just built or updated
    root_block().load(tally_frame, None, c["tally"], api_visibility="private")  # the visitor's own votes
    for choice, button in c["vote_buttons"].items():
        button.click(user_errors(lambda t, choice=choice: vote(choice, t, state)), c["turns"],
                     [c["vote_status"], c["tally"]], api_name=f"vote_{choice}")

    c["blind_send"].click(user_errors(lambda q, r, i: blind_ask(q, r, i, state)), [c["prompt"], c["run"], c["index"]],
                          [c["blind_a"], c["blind_b"], c["duel"], c["blind_status"]], api_name="blind_ask")
    for choice, button in c["blind_buttons"].items():
        button.click(user_errors(lambda d, choice=choice: blind_vote(choice, d, state)), c["duel"],
                     [c["blind_status"], c["tally"], c["duel"]], api_name=f"blind_vote_{choice}")

    def ask_endpoint(question: str, bots: str = "finetuned,rag", run: str = "", index: str = "default",
                     history: list[dict[str, str]] | None = None) -> dict:
        """Answer one question with the named bots (comma-separated) for gradio_client; ``history``:
        the earlier messages of the conversation, oldest first."""
        return ask_api(question, bots, run, index, state, history)

    gr.api(user_errors(ask_endpoint), api_name="ask")
