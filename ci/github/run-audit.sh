#!/usr/bin/env bash
# The GitHub Action's one step (action.yml): installs the CLI from the action's own checkout
# (unless INPUT_INSTALL is false: then `alias-audit` must be on PATH), runs
# `alias-audit audit` with the inputs, and writes the outputs (report, junit, summary paths,
# exit-code, verdict) to $GITHUB_OUTPUT and the markdown summary to $GITHUB_STEP_SUMMARY.
#
# Inputs come as INPUT_* variables (action.yml sets them from `with:`). The API key comes only
# as ALIAS_AUDIT_API_KEY, which the CLI reads itself: it never appears on a command line.
# Exit status: the CLI's (0 pass, 1 a gate failed, 2 bad input, 3 internal), except that a
# failed gate exits 0 when INPUT_FAIL_ON_GATE is false (the verdict output still says fail).
set -uo pipefail

say() { printf 'alias-audit action: %s\n' "$*" >&2; }
# A workflow command; % and newlines escaped as the runner wants them.
annotate() {
  local msg="${2//'%'/%25}"
  msg="${msg//$'\r'/%0D}"
  msg="${msg//$'\n'/%0A}"
  printf '::%s::%s\n' "$1" "$msg"
}
output() {
  if [ -n "${GITHUB_OUTPUT:-}" ]; then printf '%s=%s\n' "$1" "$2" >> "$GITHUB_OUTPUT"; fi
}
# Spelled out rather than ${1,,}: macOS's /bin/bash is 3.2.
is_true() {
  case "$1" in [Tt][Rr][Uu][Ee] | [Yy][Ee][Ss] | 1 | [Oo][Nn]) return 0 ;; *) return 1 ;; esac
}

if [ -z "${INPUT_MODEL:-}" ]; then
  annotate error 'alias-audit: the input "model" is required (the ONNX file to audit)'
  output verdict error
  output exit-code 2
  exit 2
fi

# An empty key is no key: unset, so the CLI does not send an empty Authorization header.
if [ -n "${ALIAS_AUDIT_API_KEY:-}" ]; then
  # Masked in the log even if it did not come from a secret.
  printf '::add-mask::%s\n' "$ALIAS_AUDIT_API_KEY"
  export ALIAS_AUDIT_API_KEY
else
  unset ALIAS_AUDIT_API_KEY
fi

if is_true "${INPUT_INSTALL:-true}"; then
  action_path="${GITHUB_ACTION_PATH:?GITHUB_ACTION_PATH is not set: run this script from action.yml}"
  say "installing the CLI from ${action_path}"
  # onnxruntime-node's postinstall would download CUDA libraries; the CPU runtime is in the package.
  if ! (cd "$action_path" && ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund --loglevel=error > /dev/null && npm run --silent build > /dev/null); then
    annotate error 'alias-audit: installing the CLI failed (npm ci or npm run build in the action folder); see the log above'
    output verdict error
    output exit-code 3
    exit 3
  fi
  bin_dir="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/alias-audit-bin"
  mkdir -p "$bin_dir"
  printf '#!/bin/sh\nexec node "%s/dist/cli/main.js" "$@"\n' "$action_path" > "$bin_dir/alias-audit"
  chmod +x "$bin_dir/alias-audit"
  PATH="$bin_dir:$PATH"
fi

cd "${INPUT_WORKING_DIRECTORY:-.}" || {
  annotate error "alias-audit: working-directory ${INPUT_WORKING_DIRECTORY} does not exist"
  output verdict error
  output exit-code 2
  exit 2
}
out_dir="${INPUT_OUTPUT_DIR:-alias-audit-results}"
mkdir -p "$out_dir"
out_dir="$(cd "$out_dir" && pwd)"
report="$out_dir/report.json"
junit="$out_dir/junit.xml"
summary="$out_dir/summary.md"

args=(audit "$INPUT_MODEL" --out "$report" --junit "$junit" --summary "$summary" --quiet)
# input variable -> CLI flag; empty inputs are left out, so the CLI's defaults apply.
add() {
  local value="${!1:-}"
  if [ -n "$value" ]; then args+=("$2" "$value"); fi
}
add INPUT_BASELINE --baseline
add INPUT_BASELINE_MODEL --baseline-model
add INPUT_MAX_AM_REL --max-am-rel
add INPUT_MAX_AM_REL_INCREASE --max-am-rel-increase
add INPUT_MAX_ACCURACY_DROP --max-accuracy-drop
add INPUT_MAX_ROBUST_ACCURACY_DROP --max-robust-accuracy-drop
add INPUT_MIN_ROBUST_ACCURACY --min-robust-accuracy
add INPUT_SAMPLES --samples
add INPUT_PREPROCESS --preprocess
add INPUT_ROBUSTNESS --robustness
add INPUT_SERVER --server
if is_true "${INPUT_ALLOW_OPTION_MISMATCH:-false}"; then args+=(--allow-option-mismatch); fi
# extra-args: split at whitespace, no quoting and no globbing (read -a does neither).
if [ -n "${INPUT_EXTRA_ARGS:-}" ]; then
  read -r -a extra <<< "$INPUT_EXTRA_ARGS"
  args+=("${extra[@]}")
fi

say "alias-audit ${args[*]}"
# The report is in --out; stdout would only repeat it in the log.
alias-audit "${args[@]}" > /dev/null
code=$?

case "$code" in
  0) verdict=pass ;;
  1) verdict=fail ;;
  *) verdict=error ;;
esac
output exit-code "$code"
output verdict "$verdict"
if [ -f "$report" ]; then output report "$report"; fi
if [ -f "$junit" ]; then output junit "$junit"; fi
if [ -f "$summary" ]; then
  output summary "$summary"
  if [ -n "${GITHUB_STEP_SUMMARY:-}" ] && is_true "${INPUT_JOB_SUMMARY:-true}"; then
    cat "$summary" >> "$GITHUB_STEP_SUMMARY"
    printf '\n' >> "$GITHUB_STEP_SUMMARY"
  fi
fi

case "$verdict" in
  pass) exit 0 ;;
  fail)
    annotate error "alias-audit: a gate failed for ${INPUT_MODEL} (see the job summary and ${junit})"
    if is_true "${INPUT_FAIL_ON_GATE:-true}"; then exit 1; fi
    exit 0
    ;;
  *)
    annotate error "alias-audit: the audit did not run (exit ${code}: $([ "$code" = 2 ] && echo 'bad input or usage' || echo 'internal error')); see the log above"
    exit "$code"
    ;;
esac
