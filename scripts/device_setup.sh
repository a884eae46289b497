#!/usr/bin/env bash
# On a GPU machine without network, before scripts/device_check.sh: the XTTS fixture from
# carried pieces, verified against its manifest, and /tmp/dev: the machine's python3
# (torch, transformers) plus the engine and the packages it lacks, from carried wheels.
#
# Prepared here (each call may carry 64 MiB; the fixture is 94 MB, so dvae.pth goes in a
# call of its own, or not at all: then fine-tuning cannot run):
#   .devcarry/a/fx/          the fixture folder without model.pth and dvae.pth
#   .devcarry/a/model.pth.xz .devcarry/b/dvae.pth.xz   (xz -6)
#   .devcarry/a/whl/         `pip download --no-deps --only-binary=:all: --python-version
#                            3.12 --platform manylinux_2_28_x86_64 ...` of coqui-tts and each
#                            requirement the machine lacks (docopt: `pip wheel docopt`;
#                            torchcodec too: coqui-tts 0.28 will not import without it)
# then: bash scripts/device_setup.sh && XTTS_COMPAT_CACHE=/tmp/fxcache \
#         bash scripts/device_check.sh /tmp/dev/bin/python
set -euo pipefail
cd "$(dirname "$0")/.."
D=.devcarry C=/tmp/fxcache/xtts-tiny-b3-seed1234
mkdir -p "$C" && cp -r "$D/a/fx/." "$C/"
python3 - "$D" "$C" <<'PY'
import hashlib, json, lzma, shutil, sys
from pathlib import Path
d, c = Path(sys.argv[1]), Path(sys.argv[2])
for name, src in (("model.pth", d / "a" / "model.pth.xz"), ("dvae.pth", d / "b" / "dvae.pth.xz")):
    if src.is_file():
        with lzma.open(src) as i, open(c / name, "wb") as o:
            shutil.copyfileobj(i, o, 1 << 20)
manifest = json.loads((c / "manifest.json").read_text())
if not (c / "dvae.pth").is_file():
    print("setup: dvae.pth did not arrive: dropped from the manifest; finetune cannot run")
    manifest["files"].pop("dvae.pth", None)
    (c / "manifest.json").write_text(json.dumps(manifest, indent=2))
bad = [n for n, w in manifest["files"].items()
       if hashlib.sha256((c / n).read_bytes()).hexdigest() != w["sha256"]]
print("setup: fixture", "verified" if not bad else f"MISMATCH {bad}", sorted(manifest["files"]))
PY
python3 -m venv --system-site-packages --without-pip /tmp/dev
# python3 there is itself a venv (/opt/torch/.venv): a venv of it sees the base Python's
# packages, not its own; a .pth file adds python3's site-packages after /tmp/dev's own.
python3 -c "import site; print('\n'.join(site.getsitepackages()))" \
  > "$(/tmp/dev/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")/_device_python3.pth"
/tmp/dev/bin/python -m pip install -q --no-index --no-deps --no-compile --disable-pip-version-check "$D"/a/whl/*.whl
/tmp/dev/bin/python - <<'PY'
import importlib.metadata as m
def v(n):
    try:
        return m.version(n)
    except m.PackageNotFoundError:
        return None
print("setup:", {n: v(n) for n in ("coqui-tts", "torch", "torchaudio", "transformers", "numpy", "torchcodec")})
PY
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
