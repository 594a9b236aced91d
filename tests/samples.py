"""Small bilingual sample texts and a JSONL writer shared by the corpus-stage tests."""

import json

JA = ["糖尿病の治療にはインスリンを用いる。", "高血圧の患者に降圧薬を投与した。", "肺がんの病期はT2であった。"]
EN = ["Insulin is used to treat diabetes.", "The patient received an antihypertensive drug.",
      "Gene VELR1 is associated with Velorin syndrome."]


def write_jsonl(path, records):
    """One JSON object a line (UTF-8, non-ASCII kept); creates the folder; returns `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records),
                    encoding="utf-8")
    return path
