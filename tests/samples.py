"""Small bilingual sample texts and a JSONL writer shared by the corpus-stage tests."""

from cptmix import io

JA = ["糖尿病の治療にはインスリンを用いる。", "高血圧の患者に降圧薬を投与した。", "肺がんの病期はT2であった。"]
EN = ["Insulin is used to treat diabetes.", "The patient received an antihypertensive drug.",
      "Gene VELR1 is associated with Velorin syndrome."]


def write_jsonl(path, records):
    """One JSON object a line, keys in the given order (`cptmix.io.write_jsonl`); returns `path`."""
    io.write_jsonl(path, records, sort_keys=False)
    return path
