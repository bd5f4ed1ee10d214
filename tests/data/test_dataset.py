"""Reading every supported layout, naming every problem of a bad file, the split and the mask.

``BAD_FILES`` is shared with the CLI and UI tests so all three front doors give the same message.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from airbot.data.dataset import LoadedDataset, read_dataset, render_row, split_rows
from airbot.errors import DataError
from airbot.models import shared_tokenizer

QA = [{"question": "How long is the warranty?", "answer": "Two years from the date of purchase."},
      {"question": "Can I return an opened box?", "answer": "Yes, within 30 days if all parts are included."}]
MSG = [{"role": "user", "content": "Hi, is the shop open on Sunday?"},
       {"role": "assistant", "content": "Yes, from 10:00 to 16:00."}]


def jsonl(rows: list) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


# --- formats -----------------------------------------------------------------------------------
def test_csv_question_answer_keeps_extra_columns(tmp_path: Path) -> None:
    path = write(tmp_path, "shop.csv", "Question,Answer,category\n\"How long, exactly, is the warranty?\",Two years.,"
                                       "terms\n\"Multi\nline?\",\"Yes \"\"quoted\"\"\",misc\n,,\n")
    ds = read_dataset(path)
    assert (ds.format, ds.file_type, ds.fields) == ("qa", "csv", {"question": "Question", "answer": "Answer"})
    assert ds.rows[0] == [{"role": "user", "content": "How long, exactly, is the warranty?"},
                          {"role": "assistant", "content": "Two years."}]
    assert ds.rows[1][1]["content"] == 'Yes "quoted"' and ds.row_numbers == [1, 2]
    assert ds.extras == [{"category": "terms"}, {"category": "misc"}]


def test_tsv_prompt_response_with_system_and_bom(tmp_path: Path) -> None:
    path = write(tmp_path, "t.tsv", "\ufeffsystem\tprompt\tresponse\nBe brief.\tHello?\tHi.\n\tAgain?\tSure.\n")
    ds = read_dataset(path)
    assert ds.rows[0][0] == {"role": "system", "content": "Be brief."}
    assert ds.rows[1][0]["role"] == "user"  # an empty system cell means no system message


def test_semicolon_csv_from_a_european_spreadsheet(tmp_path: Path) -> None:
    ds = read_dataset(write(tmp_path, "eu.csv", "q;a\nWie spät?;Zehn Uhr.\n"))
    assert ds.rows[0][1]["content"] == "Zehn Uhr."


def test_json_alpaca_appends_input_to_instruction(tmp_path: Path) -> None:
    rows = [{"instruction": "Translate to French", "input": "cat", "output": "chat"},
            {"instruction": "Say hello", "input": "", "output": "Hello!"}]
    ds = read_dataset(write(tmp_path, "alpaca.json", json.dumps(rows)))
    assert ds.fields == {"question": "instruction", "answer": "output", "input": "input"}
    assert ds.rows[0][0]["content"] == "Translate to French\n\ncat" and ds.rows[1][0]["content"] == "Say hello"


def test_json_data_wrapper_prompt_completion(tmp_path: Path) -> None:
    doc = {"data": [{"prompt": "2+2?", "completion": "It is 4."}]}
    ds = read_dataset(write(tmp_path, "wrapped.json", json.dumps(doc)))
    assert ds.format == "qa" and ds.rows[0][1]["content"] == "It is 4." and ds.where(0) == "item 1"


def test_jsonl_messages_with_facts_extras(tmp_path: Path) -> None:
    rows = [{"messages": [{"role": "system", "content": "Be kind."}, *MSG], "facts": ["10:00"], "clause": "2.1"}]
    ds = read_dataset(write(tmp_path, "m.jsonl", "\n" + jsonl(rows)))
    assert ds.format == "messages" and ds.rows[0][0]["role"] == "system"
    assert ds.extras == [{"facts": ["10:00"], "clause": "2.1"}] and ds.row_numbers == [2]


def test_jsonl_sharegpt_multi_turn(tmp_path: Path) -> None:
    conv = [{"from": "system", "value": "S"}, {"from": "human", "value": "a?"}, {"from": "gpt", "value": "b."},
            {"from": "human", "value": "c?"}, {"from": "gpt", "value": "d."}]
    ds = read_dataset(write(tmp_path, "s.jsonl", jsonl([{"conversations": conv}])))
    assert ds.format == "sharegpt"
    assert [m["role"] for m in ds.rows[0]] == ["system", "user", "assistant", "user", "assistant"]


def test_json_file_holding_json_lines_is_read(tmp_path: Path) -> None:
    ds = read_dataset(write(tmp_path, "lines.json", jsonl(QA)))
    assert len(ds) == 2 and ds.file_type == "json"


def test_parquet_query_response_and_messages(tmp_path: Path) -> None:
    pd.DataFrame({"query": ["Q1?", "Q2?"], "response": ["A1.", "A2."], "id": [7, 8]}).to_parquet(tmp_path / "qa.parquet")
    ds = read_dataset(tmp_path / "qa.parquet")
    assert ds.fields == {"question": "query", "answer": "response"} and ds.extras[1] == {"id": 8}
    pd.DataFrame({"messages": [MSG]}).to_parquet(tmp_path / "m.parquet")
    assert read_dataset(tmp_path / "m.parquet").rows == [MSG]


def test_csv_messages_column_holding_json(tmp_path: Path) -> None:
    cell = json.dumps(MSG).replace('"', '""')
    ds = read_dataset(write(tmp_path, "m.csv", f'messages\n"{cell}"\n'))
    assert ds.rows == [MSG]


def test_the_shipped_samples_are_valid() -> None:
    from airbot.samples import sample_path

    train = read_dataset(sample_path("train"), tokenizer=shared_tokenizer(), max_tokens=512)
    heldout = read_dataset(sample_path("heldout"))
    assert len(train) >= 30 and all("facts" in e for e in heldout.extras)


# --- bad files: (file name, content, what the message must contain) -----------------------------
def _parquet_bytes() -> bytes:
    import io

    buffer = io.BytesIO()
    pd.DataFrame({"question": ["a", "b"], "answer": ["x", "y"]}).to_parquet(buffer)
    return buffer.getvalue()


LONG = "word " * 300
BAD_FILES: dict[str, tuple[str, str | bytes, list[str]]] = {
    "empty file": ("empty.csv", b"", ["empty.csv is empty"]),
    "no rows": ("header_only.csv", "question,answer\n", ["header_only.csv has no rows"]),
    "unknown columns": ("cols.jsonl", jsonl([{"foo": "x", "bar": "y"}]),
                        ["cols.jsonl", "no question and no answer column", "'foo'", "instruction", "completion"]),
    "missing field": ("missing.jsonl", jsonl([QA[0], {"question": "Where?"}]),
                      ["missing.jsonl", "line 2, field 'answer': missing"]),
    "empty field": ("blank.csv", "question,answer\nWhere is it?,   \n",
                    ["blank.csv", "row 1 (line 2), field 'answer': is empty"]),
    "number where text expected": ("num.json", json.dumps([{"question": "How many?", "answer": 42}]),
                                   ["num.json", "item 1, field 'answer': is a number (42), expected text"]),
    "list where text expected": ("list.jsonl", jsonl([{"question": ["a", "b"], "answer": "c"}]),
                                 ["list.jsonl", "line 1, field 'question': is a list"]),
    "assistant first": ("first.jsonl", jsonl([{"messages": MSG[::-1]}]),
                        ["first.jsonl", "line 1, field 'messages': message 1 is from the assistant"]),
    "two users in a row": ("twice.jsonl", jsonl([{"messages": [MSG[0], MSG[0], MSG[1]]}]),
                           ["twice.jsonl", "line 1, field 'messages': messages 1 and 2 are both from the user"]),
    "ends with user": ("open.jsonl", jsonl([{"messages": [*MSG, MSG[0]]}]),
                       ["open.jsonl", "line 1, field 'messages': ends with a user message"]),
    "unknown role": ("role.jsonl", jsonl([{"messages": [MSG[0], {"role": "bot", "content": "x"}]}]),
                     ["role.jsonl", "line 1, field 'messages', message 2: unknown role \"bot\""]),
    "messages not a list": ("notlist.jsonl", jsonl([{"messages": {"role": "user"}}]),
                            ["notlist.jsonl", "line 1, field 'messages': is an object, expected a list of messages"]),
    "over the token limit": ("long.jsonl", jsonl([QA[0], {"question": "Tell me all.", "answer": LONG}]),
                             ["long.jsonl", "line 2:", "tokens with the chat template, over the limit of 64"]),
    "invalid UTF-8": ("latin1.csv", "question,answer\nCafé?,Oui.\n".encode("latin-1"),
                      ["latin1.csv", "line 2: byte 0xe9 at byte offset 19 is not valid UTF-8", "Re-save it as UTF-8"]),
    "UTF-16": ("excel.tsv", "question\tanswer\nA?\tB.\n".encode("utf-16"), ["excel.tsv", "UTF-16"]),
    "JSON in a .csv": ("data.csv", jsonl(QA), ["data.csv contains JSON", ".jsonl"]),
    "binary in a .jsonl": ("blob.jsonl", b"\x00\x01\x02binary", ["blob.jsonl contains binary data", "offset 0"]),
    "parquet that is not parquet": ("fake.parquet", "question,answer\na,b\n",
                                    ["fake.parquet is not a Parquet file", "plain text"]),
    "PDF renamed .json": ("policy.json", b"%PDF-1.7\n%\xe2\xe3\n1 0 obj", ["policy.json is a PDF document"]),
    "parquet renamed .jsonl": ("table.jsonl", _parquet_bytes(), ["table.jsonl is a Parquet file"]),
    "malformed JSON line": ("broken.jsonl", jsonl(QA) + '{"question": "x", "answer": }\n',
                            ["broken.jsonl", "line 3: invalid JSON at column 29"]),
    "malformed JSON document": ("broken.json", '[\n {"question": "x",\n  "answer" "y"}\n]',
                                ["broken.json, line 3 column 12: invalid JSON"]),
    "JSON that is not a list": ("object.json", json.dumps({"rows": QA}), ["object.json", "keys rows"]),
    "unsupported extension": ("book.xlsx", b"PK\x03\x04", ["book.xlsx", "'.xlsx' is not supported", ".csv", ".parquet"]),
    "ragged CSV rows": ("ragged.csv", "question,answer\na?,b.\nc?,d,e\n",
                        ["ragged.csv", "row 2 (line 3): has 3 values but the header has 2 columns"]),
    "duplicate header": ("dup.csv", "question,answer,Question\na?,b.,c?\n",
                         ["dup.csv", "columns 1 and 3 are both named 'Question'"]),
}


def make_bad_file(tmp_path: Path, kind: str) -> tuple[Path, list[str]]:
    """Write the bad file of ``kind``; return it with the fragments its error must contain."""
    name, content, expected = BAD_FILES[kind]
    return write(tmp_path, name, content), expected


@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_bad_file_names_file_row_field_and_fix(tmp_path: Path, kind: str) -> None:
    path, expected = make_bad_file(tmp_path, kind)
    with pytest.raises(DataError) as caught:
        read_dataset(path, tokenizer=shared_tokenizer(), max_tokens=64)
    for fragment in expected:
        assert fragment in str(caught.value), f"{fragment!r} not in:\n{caught.value}"


def test_every_problem_is_collected_in_one_error(tmp_path: Path) -> None:
    rows = [QA[0], {"question": "", "answer": "x"}, {"question": "q", "answer": 5}, {"question": "q", "answer": ["x"]}]
    path = write(tmp_path, "many.jsonl", jsonl(rows) + "not json\n")
    with pytest.raises(DataError) as caught:
        read_dataset(path)
    text = str(caught.value)
    assert "4 problem(s)" in text and len(caught.value.problems) == 4
    assert text.index("line 2") < text.index("line 3") < text.index("line 5")


def test_a_flood_of_problems_is_capped(tmp_path: Path) -> None:
    path = write(tmp_path, "flood.csv", "question,answer\n" + "q?,\n" * 80)
    with pytest.raises(DataError) as caught:
        read_dataset(path)
    assert "80 problem(s)" in str(caught.value) and "and 30 more" in str(caught.value)
    assert len(caught.value.problems) == 80


def test_missing_file_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        read_dataset(tmp_path / "nope.csv")


# --- split and mask ----------------------------------------------------------------------------
def test_split_is_deterministic_and_sized() -> None:
    train, held = split_rows(100, 0.1, 42)
    assert (train, held) == split_rows(100, 0.1, 42) and len(held) == 10
    assert sorted(train + held) == list(range(100)) and held != split_rows(100, 0.1, 7)[1]
    assert len(split_rows(10, 0.01, 1)[1]) == 1 and split_rows(50, 0.0, 1)[1] == []
    assert split_rows(5, 0.1, 1) == ([0, 1, 2, 3, 4], [])
    with pytest.raises(DataError, match="heldout_fraction"):
        split_rows(10, 1.0, 1)


def test_render_row_marks_only_the_answer_and_end_of_turn() -> None:
    tok = shared_tokenizer()
    messages = [{"role": "system", "content": "Be brief."}, *MSG]
    pieces = render_row(messages, tok)
    assert "".join(text for text, _ in pieces) == tok.apply_chat_template(messages, tokenize=False)
    trained = "".join(text for text, flag in pieces if flag)
    assert trained.startswith(MSG[1]["content"]) and tok.eos_token in trained
    assert MSG[0]["content"] not in trained and "Be brief." not in trained


def test_render_row_marks_every_assistant_turn() -> None:
    turns = [*MSG, {"role": "user", "content": "And Monday?"}, {"role": "assistant", "content": "Closed."}]
    trained = [text for text, flag in render_row(turns, shared_tokenizer()) if flag]
    assert len(trained) == 2 and trained[1].startswith("Closed.")


def test_loaded_dataset_where_uses_the_files_own_units() -> None:
    ds = LoadedDataset(Path("x.jsonl"), "qa", {}, [MSG], [7], [{}], "jsonl")
    assert ds.where(0) == "line 7" and len(ds) == 1


# --- the dataset store -------------------------------------------------------------------------
def test_store_saves_lists_reuses_and_deletes(fresh_home: Path, tmp_path: Path) -> None:
    from airbot.data import store

    rows = [{**QA[0], "facts": ["two years"]}, QA[1]]
    path = write(tmp_path, "My Shop FAQ!.jsonl", jsonl(rows))
    saved = store.save_dataset(path)
    assert saved.name == "my-shop-faq" and saved.source_path.read_bytes() == path.read_bytes()
    assert saved.meta["rows"] == 2 and saved.meta["source_name"] == "My Shop FAQ!.jsonl" and len(saved.meta["sha256"]) == 64
    reread = read_dataset(saved.data_path)
    assert reread.format == "messages" and reread.extras[0] == {"facts": ["two years"]}
    assert reread.rows[1][0]["content"] == QA[1]["question"]
    assert store.save_dataset(path).dir == saved.dir  # identical content: reused
    other = write(tmp_path / "b", "My Shop FAQ!.jsonl", jsonl(QA[:1]))
    assert store.save_dataset(other).name == "my-shop-faq-2"
    with pytest.raises(DataError, match="already exists"):
        store.save_dataset(other, "my-shop-faq")
    assert {d.name for d in store.list_datasets()} == {"my-shop-faq", "my-shop-faq-2"}
    store.delete_dataset("my-shop-faq-2")
    with pytest.raises(DataError, match="stored: my-shop-faq"):
        store.get_dataset("my-shop-faq-2")


def test_a_failed_save_leaves_nothing_and_touches_nothing(fresh_home: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from airbot.data import store

    kept = store.save_dataset(write(tmp_path, "kept.jsonl", jsonl(QA)))
    before = sorted(p.name for p in kept.dir.iterdir())
    with pytest.raises(DataError):
        store.save_dataset(write(tmp_path, "bad.csv", "question,answer\nq,\n"))

    def crash(*args: object) -> bool:
        raise OSError("disk full")

    monkeypatch.setattr(store, "_claim", crash)
    with pytest.raises(OSError):
        store.save_dataset(write(tmp_path, "other.jsonl", jsonl(QA[:1])))
    assert [p.name for p in store.datasets_dir().iterdir()] == ["kept"]
    assert sorted(p.name for p in kept.dir.iterdir()) == before


def test_sample_dataset_is_stored_once(fresh_home: Path) -> None:
    from airbot.data.store import SAMPLE_NAME, ensure_sample_dataset, list_datasets

    first = ensure_sample_dataset()
    assert first.name == SAMPLE_NAME and first.rows >= 30 and first.load().format == "messages"
    assert ensure_sample_dataset().meta["created"] == first.meta["created"] and len(list_datasets()) == 1
