"""The environment a cell starts from: an allowlist; verdict-changing variables dropped
and named, or passed on purpose (COMPAT_PASS_ENV) into the fingerprint."""

from __future__ import annotations

from compat.env import cellenv
from compat.result.fingerprint import fingerprint

SHELL = {"PATH": "/usr/bin", "HOME": "/root", "LANG": "C.UTF-8", "LC_ALL": "C",
         "CUDA_VISIBLE_DEVICES": "0", "COMPAT_MATRIX": "m.toml", "OPENBLAS_CORETYPE": "x",
         "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1", "TRANSFORMERS_VERBOSITY": "info",
         "HF_HOME": "/h", "COQUI_TOS_AGREED": "1", "PYTORCH_CUDA_ALLOC_CONF": "x",
         "PYTHONPATH": "/elsewhere", "AWS_SECRET_ACCESS_KEY": "s", "PIP_FIND_LINKS": "/w",
         "UV_INDEX_URL": "http://mirror", "UV_CACHE_DIR": "/c", "SSL_CERT_FILE": "/ca"}


def test_only_the_allowlist_reaches_a_cell():
    found = cellenv.cell_environment(SHELL)
    assert set(found.env) == {"PATH", "HOME", "LANG", "LC_ALL", "CUDA_VISIBLE_DEVICES",
                              "OPENBLAS_CORETYPE"}
    assert found.dropped == ("COMPAT_MATRIX", "COQUI_TOS_AGREED", "HF_HOME", "PYTHONPATH",
                             "PYTORCH_CUDA_ALLOC_CONF", "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD",
                             "TRANSFORMERS_VERBOSITY")
    record = found.record()
    assert "AWS_SECRET_ACCESS_KEY" not in str(record)  # neither passed nor named
    assert record["chosen"] == {}


def test_a_variable_set_on_purpose_passes_and_enters_the_fingerprint():
    shell = {**SHELL, "COMPAT_PASS_ENV": "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD, UV_INDEX_URL"}
    found = cellenv.cell_environment(shell)
    assert found.env["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] == "1"
    assert "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD" not in found.dropped
    assert found.chosen == {"TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1", "UV_INDEX_URL": "http://mirror"}

    def fp(env):
        return fingerprint(["TTS==0.22.0"], {}, "3.11.7", "linux-x86_64", "d", False,
                           inputs=cellenv.chosen(env))

    assert fp(shell) != fp(SHELL)
    assert fp(shell) != fp({**shell, "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "0"})
    assert fp(SHELL) == fp({**SHELL, "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "0"})  # dropped


def test_installs_keep_certificates_and_cache_but_not_resolution_settings():
    env, dropped = cellenv.install_environment(SHELL)
    assert dropped == ["PIP_FIND_LINKS", "PYTHONPATH", "UV_INDEX_URL"]
    assert env["SSL_CERT_FILE"] == "/ca" and env["UV_CACHE_DIR"] == "/c"
    kept, _ = cellenv.install_environment({**SHELL, "COMPAT_PASS_ENV": "UV_INDEX_URL"})
    assert kept["UV_INDEX_URL"] == "http://mirror"


def test_the_callers_compat_variables_never_reach_a_cell_unless_chosen():
    """Failed before issue 25: every COMPAT_* variable passed by prefix, so
    COMPAT_WRITE_GOLDEN in a shell made the golden test write instead of compare (and pass),
    with a fingerprint that let that result stand as a verdict."""
    shell = {**SHELL, "COMPAT_WRITE_GOLDEN": "/tmp/g", "COMPAT_XTTS_DECODING": "{}",
             "COMPAT_ALLOW_NETWORK": "1", "COMPAT_TIER_ONLY": "import",
             "ATEN_CPU_CAPABILITY": "default"}
    found = cellenv.cell_environment(shell)
    assert not any(name.startswith(("COMPAT_", "ATEN_")) for name in found.env)
    assert {"COMPAT_WRITE_GOLDEN", "COMPAT_XTTS_DECODING", "COMPAT_ALLOW_NETWORK",
            "COMPAT_TIER_ONLY", "ATEN_CPU_CAPABILITY"} <= set(found.dropped)
    chosen = cellenv.cell_environment({**shell, "COMPAT_PASS_ENV": "ATEN_CPU_CAPABILITY"})
    assert chosen.env["ATEN_CPU_CAPABILITY"] == "default"
    assert chosen.chosen == {"ATEN_CPU_CAPABILITY": "default"}  # enters the fingerprint
