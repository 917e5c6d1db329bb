# Sourced by scripts/run and scripts/test: make the project's virtual environment and install
# requirements.txt into it (again only when the file changed).
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
python="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
  echo "==> creating virtual environment in .venv" >&2
  "$python" -m venv "$venv"
fi
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$root/requirements.txt" | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "==> installing requirements (first time: a few minutes, PyTorch is large)" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$root/requirements.txt" >&2
  echo "$want" >"$stamp"
fi
export PATH="$venv/bin:$PATH"
cd "$root"
