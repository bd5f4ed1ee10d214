"""``python -m airbot.guide``: the verdict for every preset, one line each (a quick check of the rules)."""

from airbot.guide import PRESETS, recommend


def main() -> None:
    """Print each preset's verdict and summary."""
    for preset, preset_answers in PRESETS.items():
        result = recommend(preset_answers)
        print(f"{preset:36} {result.verdict:10} {result.summary}")


if __name__ == "__main__":
    main()
