# Helpers shared by .ci/run and .ci/wheels (sourced, not run).

# step NAME: announce a step and record how long the previous one took, as
# "SECONDS<TAB>NAME" lines in $CI_STEP_TIMES when that is set (.ci/run prints
# them at the end). step_done records the last one.
step() {
  step_done
  step_name="$1"
  step_start=$SECONDS
  printf '\n=== %s%s (%ss)\n' "${STEP_PREFIX:-}" "$1" "$SECONDS"
}
step_done() {
  if [ -n "${step_name:-}" ] && [ -n "${CI_STEP_TIMES:-}" ]; then
    printf '%s\t%s%s\n' "$((SECONDS - step_start))" "${STEP_PREFIX:-}" "$step_name" >> "$CI_STEP_TIMES"
  fi
  step_name=""
}

# find_python 3.9: print the path of a CPython 3.9 interpreter, or fail saying
# how to get one. $PYTHON39 (PYTHON310, ...) names it; otherwise pyenv's newest
# 3.9.x (`pyenv prefix 3.9`), then one under $PYENV_ROOT without the pyenv
# command, then python3.9 on PATH.
find_python() {
  local ver="$1" var="PYTHON${1/./}" exe="" prefix="" d
  if [ -n "${!var:-}" ]; then
    exe="${!var}"
  elif command -v pyenv >/dev/null 2>&1 && prefix="$(pyenv prefix "$ver" 2>/dev/null)"; then
    exe="$prefix/bin/python$ver"
  else
    for d in $(ls -d "${PYENV_ROOT:-$HOME/.pyenv}/versions/$ver".* 2>/dev/null | sort -V); do
      [ -x "$d/bin/python$ver" ] && exe="$d/bin/python$ver"
    done
    [ -n "$exe" ] || exe="$(command -v "python$ver" 2>/dev/null || true)"
  fi
  if [ -z "$exe" ] || ! "$exe" -c "import sys, venv; sys.exit(sys.version_info[:2] != tuple(map(int, '$ver'.split('.'))))" 2>/dev/null; then
    echo "CPython $ver not found${exe:+ (${exe} is not a working CPython $ver)}: install it" \
      "(pyenv install $ver) or set $var to its python executable" >&2
    return 1
  fi
  echo "$exe"
}

# readme_test_command: the README's test command line, as users copy it
# (python -m pip install ".[test]" && python -m pytest).
readme_test_command() {
  local cmd
  cmd="$(sed -n 's/^    \(python -m pip install "\.\[test\]".*pytest.*\)$/\1/p' "$repo/README.md" | head -n 1)"
  if [ -z "$cmd" ]; then echo "README.md has no test command line" >&2; return 1; fi
  echo "$cmd"
}
