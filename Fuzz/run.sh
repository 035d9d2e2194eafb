#!/usr/bin/env bash
# libFuzzer over every inbound parser and signature verifier (see Sources/AirlockFuzzTargets).
#   Fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]
# Builds airlock-fuzz with -sanitize=fuzzer,address into .build-fuzz (a first build compiles every dependency
# with the sanitizers: minutes), then runs each target from its committed seed corpus (Fuzz/corpus/<target>,
# read-only) with new inputs kept in .build-fuzz/corpus/<target>. Any crash, leak, timeout (>2 s per input) or
# allocation over 512 MB stops that target and leaves the input in .build-fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}; shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(slack-events slack-commands slack-interactions slack-signature mattermost-webhook mattermost-commands discourse github body-signature discord discord-signature matrix)
export SWIFT_DETERMINISTIC_HASHING=1 SWIFT_BACKTRACE=enable=no
swift build -c release --product airlock-fuzz --build-path .build-fuzz \
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING -Xswiftc -parse-as-library >&2
bin=$(swift build -c release --product airlock-fuzz --build-path .build-fuzz --show-bin-path)/airlock-fuzz
mkdir -p .build-fuzz/artifacts
status=0
for target in "${targets[@]}"; do
  mkdir -p ".build-fuzz/corpus/$target"
  log=".build-fuzz/$target.log"
  if AIRLOCK_FUZZ_TARGET=$target "$bin" ".build-fuzz/corpus/$target" "Fuzz/corpus/$target" \
      -max_total_time="$seconds" -timeout=2 -malloc_limit_mb=512 -rss_limit_mb=2048 -max_len=65536 \
      -artifact_prefix=".build-fuzz/artifacts/$target-" -print_final_stats=1 >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log"); cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
    echo "$target: ok, $runs runs in ${seconds}s, $cov"
  else
    echo "$target: FAILED (see $log and .build-fuzz/artifacts/)"; tail -30 "$log"; status=1
  fi
done
exit $status
