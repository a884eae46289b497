"""Host prerequisites: probed, recorded, and a failure they explain reported as the host's
(host-missing, with the install command), never as the stack's break."""

from __future__ import annotations

from report_fakes import fake_result, write
from test_gate import fake_matrix, matrix_cells

from compat import gate
from compat.env import host
from compat.report.markdown import tier_cell
from compat.report.model import entry

CODEC = ("RuntimeError", "Could not load libtorchcodec. Likely causes: FFmpeg is not "
         "properly installed in your environment.")
RULES = {"ffmpeg": ("torchcodec",)}


def with_host(result: dict, found: bool) -> dict:
    result["host"] = {"ffmpeg": {"found": found, "missing": [] if found else ["libavutil"],
                                 "where": {}, "install": "apt-get install ffmpeg",
                                 "needed_by": "torchcodec"}}
    return result


def test_a_prerequisite_is_needed_only_when_a_package_loads_it():
    assert host.needed(RULES, ["torch", "TorchCodec"]) == {"ffmpeg": "torchcodec"}
    assert host.needed(RULES, ["torch", "torchaudio"]) == {}


def test_the_probe_finds_what_is_there_and_names_what_is_not(monkeypatch):
    monkeypatch.setattr(host.ctypes.util, "find_library",
                        lambda name: None if name == "avformat" else f"lib{name}.so.59")
    state = host.check(RULES, ["torchcodec"])["ffmpeg"]
    assert state["found"] is False and state["missing"] == ["libavformat"]
    assert state["install"] == "apt-get install ffmpeg" and state["needed_by"] == "torchcodec"
    line = host.summary(["ffmpeg"])[0]
    assert "MISSING (libavformat)" in line and "apt-get install ffmpeg" in line


def test_a_failure_a_missing_prerequisite_explains_is_host_missing():
    item = entry(with_host(fake_result("c", failing={"synth": CODEC}), found=False), "r")
    assert item["tiers"]["synth"]["display"] == "host-missing"
    assert item["verdict"] == "host-missing"
    assert tier_cell(item, "synth") == "🖥️ host missing: ffmpeg (install: apt-get install ffmpeg)"


def test_the_same_failure_with_the_prerequisite_present_is_the_stacks():
    item = entry(with_host(fake_result("c", failing={"synth": CODEC}), found=True), "r")
    assert item["tiers"]["synth"]["display"] == "fail" and item["verdict"] == "fail"
    item = entry(fake_result("c", failing={"synth": CODEC}), "r")  # an old result: no probe
    assert item["verdict"] == "fail"


def test_a_mended_failure_on_a_host_without_it_is_still_the_hosts():
    mended = fake_result("c", mended={"synth": (*CODEC, "torchaudio_io")})
    item = entry(with_host(mended, found=False), "r")
    assert item["tiers"]["synth"]["display"] == "host-missing"


def test_the_gate_cannot_judge_a_host_missing_tier(tmp_path, capsys):
    results = tmp_path / "results"
    matrix, baseline = fake_matrix(tmp_path, ["good"]), tmp_path / "baseline.json"
    cell = matrix_cells(matrix)["good"]
    write(results, fake_result("good"), current=cell)
    base = ["--matrix", str(matrix), "--results", str(results), "--baseline", str(baseline),
            "--no-run"]
    assert gate.main([*base, "--update-baseline"]) == gate.OK
    write(results, with_host(fake_result("good", failing={"synth": CODEC}), found=False),
          current=cell)
    assert gate.main(base) == gate.CANNOT_RUN
    out = capsys.readouterr().out
    assert "not judged on this host" in out and "apt-get install ffmpeg" in out
    write(results, with_host(fake_result("good", failing={"synth": CODEC}), found=True),
          current=cell)
    assert gate.main(base) == gate.REGRESSION  # with FFmpeg there, it is the stack's
