#!/usr/bin/env bash
# Build the one-folder app dist/TranceFinder/ (dist/TranceFinder.app too on macOS) from this checkout.
#
#   scripts/build_exe.sh [--install-deps] [--self-test]
#
#   --install-deps  pip-install the app's dependencies when some are missing (CPU-only torch when torch
#                   itself is missing; set TORCH_INDEX_URL="" to take torch from PyPI instead)
#   --self-test     run the built app's --self-test afterwards (offscreen when there is no display)
#
# Environment: PYTHON (default python3, or python on Windows), NICE (default "nice -n 10" where nice
# exists; NICE="" to build at normal priority), and the spec's switches TRANCE_FINDER_WITH_OPENL3,
# TRANCE_FINDER_WITH_NUMBA, TRANCE_FINDER_CONSOLE, TRANCE_FINDER_STRIP_TORCH (see trance_finder.spec).
# Prints the build time and the bundle size, and writes them to build/build_exe.json.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

INSTALL_DEPS=0
SELF_TEST=0
for arg in "$@"; do
  case "$arg" in
    --install-deps) INSTALL_DEPS=1 ;;
    --self-test) SELF_TEST=1 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "unknown option: $arg" >&2; exit 2 ;;
  esac
done

if [[ -z "${PYTHON:-}" ]]; then
  if command -v python3 >/dev/null 2>&1; then PYTHON=python3; else PYTHON=python; fi
fi
if [[ -z "${NICE+x}" ]]; then
  if command -v nice >/dev/null 2>&1; then NICE="nice -n 10"; else NICE=""; fi
fi
TORCH_INDEX_URL="${TORCH_INDEX_URL-https://download.pytorch.org/whl/cpu}"

# 1. the app's own dependencies (import names; pyproject.toml lists the distributions)
missing=$($PYTHON - <<'PY'
import importlib.util
mods = ["numpy", "scipy", "soundfile", "soxr", "pyloudnorm", "platformdirs", "torch", "pytorch_metric_learning",
        "faiss", "audiomentations", "sklearn", "safetensors", "PySide6", "pyqtgraph", "sounddevice"]
print(" ".join(m for m in mods if importlib.util.find_spec(m) is None))
PY
)
if [[ -n "$missing" ]]; then
  if [[ "$INSTALL_DEPS" != 1 ]]; then
    echo "missing Python packages: $missing" >&2
    echo "install them (pip install -e .) or rerun with --install-deps (CPU-only torch)" >&2
    exit 1
  fi
  if [[ " $missing " == *" torch "* && -n "$TORCH_INDEX_URL" && "$(uname -s)" != Darwin ]]; then
    echo "installing CPU-only torch from $TORCH_INDEX_URL"
    $PYTHON -m pip install torch --index-url "$TORCH_INDEX_URL"
  fi
  $PYTHON -m pip install -e .
fi

# 2. PyInstaller
if ! $PYTHON -c "import PyInstaller" >/dev/null 2>&1; then
  echo "installing PyInstaller"
  $PYTHON -m pip install "pyinstaller>=6.5" pyinstaller-hooks-contrib
fi

$PYTHON - <<'PY'
import platform, PyInstaller, torch
cuda = torch.version.cuda
print(f"Python {platform.python_version()} on {platform.system()} {platform.machine()}, PyInstaller "
      f"{PyInstaller.__version__}, torch {torch.__version__} ({'CUDA ' + cuda if cuda else 'CPU only'})")
PY

# 3. build
start=$(date +%s)
# shellcheck disable=SC2086  # NICE is a command prefix
$NICE $PYTHON -m PyInstaller --noconfirm --clean trance_finder.spec
seconds=$(( $(date +%s) - start ))

app=dist/TranceFinder
exe="$app/TranceFinder"
[[ -f "$exe.exe" ]] && exe="$exe.exe"
[[ -x "$exe" ]] || { echo "build finished but $exe is missing" >&2; exit 1; }
bytes=$($PYTHON -c "import os,sys; print(sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(sys.argv[1]) for f in fs if not os.path.islink(os.path.join(r, f))))" "$app")
mib=$(( bytes / 1048576 ))
files=$(find "$app" -type f | wc -l | tr -d ' ')
mkdir -p build
printf '{"seconds": %s, "bytes": %s, "files": %s, "app": "%s"}\n' "$seconds" "$bytes" "$files" "$exe" > build/build_exe.json
echo
echo "Built $exe in ${seconds} s"
echo "Bundle: $app = ${mib} MiB in ${files} files"
[[ -d dist/TranceFinder.app ]] && echo "macOS app: dist/TranceFinder.app"

# 4. optional self-test of the built app
if [[ "$SELF_TEST" == 1 ]]; then
  if [[ "$(uname -s)" == Linux && -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]]; then
    export QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-offscreen}"
  fi
  "$exe" --self-test
fi
