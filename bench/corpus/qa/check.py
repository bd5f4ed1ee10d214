#!/usr/bin/env python3
"""Sanity checks for the Q&A development corpus (standard library only).

Usage: python3 bench/corpus/qa/check.py   (exit code 0 = all sets pass)

Per set it verifies:
  * every jsonl row parses and has the required keys (non-empty strings / list of strings)
  * no duplicate questions in train.jsonl (case-insensitive)
  * no heldout / out_of_scope question appears verbatim in train (case-insensitive)
  * each heldout fact occurs (case-insensitive) in at least one train answer
  * each heldout answer contains its own facts
  * heldout_facts_only.jsonl, where present, has exactly the heldout questions and facts
  * every number in a train or heldout answer also occurs in facts.md
  * size bounds: >= 15 heldout rows, >= 6 out-of-scope rows, 25..160 train rows
and that SPLIT.json names every set once, with 3 sets in each half.
"""
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
NUM = re.compile(r"\d+(?:\.\d+)?")


def norm(q):
    return " ".join(q.lower().split())


def load(path, keys, errors):
    rows = []
    if not path.exists():
        errors.append(f"missing file {path.name}")
        return rows
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            errors.append(f"{path.name}:{i}: blank line")
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            errors.append(f"{path.name}:{i}: bad JSON ({e})")
            continue
        if not isinstance(row, dict) or set(row) != set(keys):
            errors.append(f"{path.name}:{i}: keys {sorted(row) if isinstance(row, dict) else type(row)} != {sorted(keys)}")
            continue
        for k in keys:
            v = row[k]
            if k == "facts":
                if not (isinstance(v, list) and v and all(isinstance(f, str) and f.strip() for f in v)):
                    errors.append(f"{path.name}:{i}: 'facts' must be a non-empty list of strings")
            elif not (isinstance(v, str) and v.strip()):
                errors.append(f"{path.name}:{i}: '{k}' must be a non-empty string")
        rows.append(row)
    return rows


def check_set(d):
    errors = []
    facts_md = d / "facts.md"
    if not facts_md.exists():
        errors.append("missing facts.md")
        fact_nums = set()
    else:
        fact_nums = set(NUM.findall(facts_md.read_text(encoding="utf-8")))

    train = load(d / "train.jsonl", ["question", "answer"], errors)
    held = load(d / "heldout.jsonl", ["question", "answer", "facts"], errors)
    oos = load(d / "out_of_scope.jsonl", ["question"], errors)
    fo_path = d / "heldout_facts_only.jsonl"
    facts_only = load(fo_path, ["question", "facts"], errors) if fo_path.exists() else None

    # duplicates in train
    seen = {}
    for i, r in enumerate(train, 1):
        q = norm(r.get("question", ""))
        if q in seen:
            errors.append(f"train: duplicate question (rows {seen[q]} and {i}): {r['question']!r}")
        seen[q] = i
    train_qs = set(seen)
    train_answers = " \n ".join(r.get("answer", "") for r in train).lower()

    held_qs = set()
    for i, r in enumerate(held, 1):
        q = norm(r.get("question", ""))
        if q in held_qs:
            errors.append(f"heldout:{i}: duplicate heldout question")
        held_qs.add(q)
        if q in train_qs:
            errors.append(f"heldout:{i}: question appears verbatim in train: {r['question']!r}")
        for f in r.get("facts", []):
            if f.lower() not in train_answers:
                errors.append(f"heldout:{i}: fact {f!r} not found in any train answer")
            if f.lower() not in r.get("answer", "").lower():
                errors.append(f"heldout:{i}: answer does not contain its fact {f!r}")

    for i, r in enumerate(oos, 1):
        if norm(r.get("question", "")) in train_qs:
            errors.append(f"out_of_scope:{i}: question appears verbatim in train")

    if facts_only is not None:
        a = [(norm(r["question"]), r["facts"]) for r in held if "facts" in r]
        b = [(norm(r["question"]), r["facts"]) for r in facts_only if "facts" in r]
        if a != b:
            errors.append("heldout_facts_only.jsonl does not match heldout.jsonl (questions/facts/order)")

    # every figure in an answer must come from facts.md
    for name, rows in (("train", train), ("heldout", held)):
        for i, r in enumerate(rows, 1):
            for n in NUM.findall(r.get("answer", "")):
                if n not in fact_nums:
                    errors.append(f"{name}:{i}: number {n} in answer not found in facts.md")

    if not 25 <= len(train) <= 160:
        errors.append(f"train has {len(train)} rows (expected 25..160)")
    if len(held) < 15:
        errors.append(f"heldout has {len(held)} rows (< 15)")
    if len(oos) < 6:
        errors.append(f"out_of_scope has {len(oos)} rows (< 6)")

    stats = dict(train=len(train), heldout=len(held), oos=len(oos),
                 facts_only="yes" if facts_only is not None else "-")
    return errors, stats


def main():
    failures = 0
    split = json.loads((ROOT / "SPLIT.json").read_text(encoding="utf-8"))
    sets = sorted(p.name for p in ROOT.iterdir() if p.is_dir() and (p / "train.jsonl").exists())
    named = split.get("tune", []) + split.get("never_tuned", [])
    if sorted(named) != sets or len(set(named)) != len(named) \
            or len(split.get("tune", [])) != 3 or len(split.get("never_tuned", [])) != 3:
        print(f"SPLIT.json: FAIL (split={split}, sets on disk={sets})")
        failures += 1
    else:
        print("SPLIT.json: ok")

    print(f"{'set':<16} {'half':<12} {'train':>5} {'heldout':>7} {'oos':>4} {'facts_only':>10}  result")
    for name in sets:
        errors, s = check_set(ROOT / name)
        half = "tune" if name in split.get("tune", []) else "never_tuned"
        print(f"{name:<16} {half:<12} {s['train']:>5} {s['heldout']:>7} {s['oos']:>4} {s['facts_only']:>10}  "
              f"{'ok' if not errors else 'FAIL'}")
        for e in errors:
            print(f"    - {e}")
        failures += bool(errors)
    print("ALL OK" if not failures else f"{failures} FAILED")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
