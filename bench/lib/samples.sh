# shellcheck shell=bash
# Sourced by bench/suite.sh: every number the suite measures goes through here, into
# three tab-separated files that bench/lib/report.py turns into the report and chart:
#   $BENCH_RAW/rows.tsv     row id, section, title, unit, floor note
#   $BENCH_RAW/samples.tsv  row id, tool, value (in the row's unit)
#   $BENCH_RAW/notes.tsv    row id (or "-"), text
# Needs bench/lib/common.sh and hyperfine.

# row ID SECTION TITLE UNIT: declare a row (the order of declaration is the report's)
row() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$BENCH_RAW/rows.tsv"; }
# sample ROW TOOL VALUE...: record values measured some other way than by hyperfine
sample() {
  local r=$1 t=$2 v; shift 2
  for v in "$@"; do printf '%s\t%s\t%s\n' "$r" "$t" "$v" >>"$BENCH_RAW/samples.tsv"; done
}
# note ROW TEXT: a sentence printed under the row's table (ROW "-": under Notes)
note() { printf '%s\t%s\n' "$1" "$2" >>"$BENCH_RAW/notes.tsv"; say "note: $2"; }

# The commands of one interleaved measurement, filled with `tool` before `interleave`.
IL_NAMES=() IL_CMDS=() IL_PREPS=()
tools_reset() { IL_NAMES=() IL_CMDS=() IL_PREPS=(); }
# tool NAME CMD [PREPARE]: CMD is what hyperfine times (no shell: -N), PREPARE runs
# untimed before each run (state clean-up, a cleared store)
tool() { IL_NAMES+=("$1"); IL_CMDS+=("$2"); IL_PREPS+=("${3:-true}"); }

# interleave ROW SCALE ROUNDS PER_ROUND WARMUP: time the declared tools in ROUNDS
# hyperfine calls of PER_ROUND runs each, the tools' order rotated by one each round,
# so drift in the host's load (builds on a shared machine) spreads over all of them;
# hyperfine alone would run all of A's runs, then all of B's.  Each call first runs
# WARMUP untimed runs per tool.  Times (s) are multiplied by SCALE (1000: ms).
# A failed round is noted and skipped: the row keeps the rounds that worked.
interleave() {
  local id=$1 scale=$2 rounds=$3 per=$4 warm=$5 round i j n=${#IL_NAMES[@]} args json
  for ((round = 0; round < rounds; round++)); do
    args=()
    for ((i = 0; i < n; i++)); do
      j=$(((i + round) % n))
      args+=(--command-name "${IL_NAMES[$j]}" --prepare "${IL_PREPS[$j]}" "${IL_CMDS[$j]}")
    done
    json=$BENCH_RAW/hf/$id-$round.json
    say "$id: round $((round + 1))/$rounds"
    if ! hyperfine -N --style none --warmup "$warm" --runs "$per" --export-json "$json" \
         "${args[@]}" >"$BENCH_RAW/hf/$id-$round.log" 2>&1; then
      note "$id" "round $((round + 1)) failed: $(tail -n 3 "$BENCH_RAW/hf/$id-$round.log" | tr '\n' ' ' | cut -c1-200)"
      continue
    fi
    jq -r --arg row "$id" --argjson s "$scale" \
      '.results[] | .command as $c | .times[] | [$row, $c, . * $s] | @tsv' "$json" >>"$BENCH_RAW/samples.tsv"
  done
}

# smoke_tools ROW: keep only the tools whose command succeeds once (after its
# prepare step); the others get a note with their error, so a broken peer costs a
# row's column, not the whole suite.
smoke_tools() {
  local id=$1 i names=() cmds=() preps=() out
  for i in "${!IL_NAMES[@]}"; do
    sh -c "${IL_PREPS[$i]}" >/dev/null 2>&1 || true
    if out=$(sh -c "${IL_CMDS[$i]}" 2>&1 </dev/null); then
      names+=("${IL_NAMES[$i]}") cmds+=("${IL_CMDS[$i]}") preps+=("${IL_PREPS[$i]}")
    else
      out=${out//$'\n'/ }
      note "$id" "${IL_NAMES[$i]}: failed, so no numbers (\`${out:0:160}\`)"
    fi
  done
  IL_NAMES=("${names[@]}") IL_CMDS=("${cmds[@]}") IL_PREPS=("${preps[@]}")
  [ ${#IL_NAMES[@]} -gt 0 ]
}
