"""The `cptmix` console script: help, config checks, mixture design, world generation."""

import json
import subprocess
import sys
from pathlib import Path

import yaml
from studies import study_config, write_config

from cptmix.cli import main

ROOT = Path(__file__).resolve().parents[1]
CPTMIX = str(Path(sys.executable).with_name("cptmix"))


def test_help_lists_subcommands():
    out = subprocess.run([CPTMIX, "--help"], capture_output=True, text=True, check=True).stdout
    for sub in ("check-config", "mixtures", "world", "analyze"):
        assert sub in out


def test_check_config_ok_and_bad(tmp_path, capsys):
    assert main(["check-config", str(ROOT / "config" / "config.yaml")]) == 0
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    cfg["mixtures"]["EnJa-Plus"]["sources"][0]["fraction"] = 2
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(cfg))
    assert main(["check-config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml" in err and "mixtures.EnJa-Plus.sources[0].fraction" in err


def test_mixtures_prints_the_design(capsys):
    assert main(["mixtures", str(ROOT / "config" / "config.yaml")]) == 0
    out = capsys.readouterr().out
    assert "EnJa-Plus" in out and "pmc_ja_mt×0.5" in out and "(extends EnDominant)" in out


def test_world_subcommand_writes_the_world(tmp_path):
    config = write_config(tmp_path / "test.yaml", study_config())
    assert main(["world", "--out", str(tmp_path / "w"), "--config", str(config)]) == 0
    assert (tmp_path / "w" / "sources" / "pmc_en.jsonl").exists()  # pmc_ja_mt is built later
    first = json.loads((tmp_path / "w" / "sources" / "ja_base.jsonl").read_text(
        encoding="utf-8").splitlines()[0])
    assert set(first) >= {"id", "text", "lang"}
