#!/usr/bin/env bash
# fraud-drift.sh sends the fraud demo model N requests of one row each,
# standardised features as in its reference sample, with feature FEATURE
# shifted by SHIFT standard deviations, then prints the drift report.
#
#   bash configs/requests/fraud-drift.sh            # 2,000 requests, f3 +1.5 sd
#   SHIFT=0 bash configs/requests/fraud-drift.sh    # undrifted traffic
#   N=3000 FEATURE=7 SHIFT=0.5 URL=http://host:8000 METRICS=http://host:8002 bash ...
#
# With the demo config (windows of 500, alarm after 3), 2,000 shifted
# requests raise the data-drift alarm on that feature alone. Only curl and
# awk are needed; sending ground truth (POST .../feedback) is shown at the end.
set -euo pipefail
N=${N:-2000} FEATURE=${FEATURE:-3} SHIFT=${SHIFT:-1.5} SEED=${SEED:-$RANDOM}
URL=${URL:-http://127.0.0.1:8000} METRICS=${METRICS:-http://127.0.0.1:8002}
# One curl process sends them all: awk writes a curl config, an entry a
# request, separated by "next".
awk -v n="$N" -v f="$FEATURE" -v shift="$SHIFT" -v seed="$SEED" -v url="$URL/v2/models/fraud/infer" 'BEGIN {
	srand(seed)
	for (i = 0; i < n; i++) {
		if (i > 0) print "next"
		printf "url = \"%s\"\nheader = \"Content-Type: application/json\"\noutput = /dev/null\n", url
		printf "data = \"{\\\"id\\\":\\\"drift-%d-%d\\\",\\\"inputs\\\":[{\\\"name\\\":\\\"features\\\",\\\"shape\\\":[1,30],\\\"datatype\\\":\\\"FP32\\\",\\\"data\\\":[", seed, i
		for (k = 0; k < 30; k++) {
			z = sqrt(-2 * log(1 - rand())) * cos(6.283185307179586 * rand())
			if (k == f) z += shift
			printf "%s%.5f", (k ? "," : ""), z
		}
		print "]}]}\""
	}
}' | curl -sS --fail-with-body -K -
echo "sent $N requests, feature f$FEATURE shifted by $SHIFT sd; the report (GET $METRICS/v2/models/fraud/drift):"
curl -sS "$METRICS/v2/models/fraud/drift" | awk '/"(data|prediction|concept)_alarm"/,/}/' | head -24
echo "features flagged in the last closed window:"
curl -sS "$METRICS/metrics" | grep '^infergate_drift_feature_drifted{model="fraud"' | grep ' 1$' || echo "  none"
echo "ground truth comes back by request id (here: class 1 for the first request sent):"
curl -sS -d "{\"id\": \"drift-$SEED-0\", \"label\": 1}" "$URL/v2/models/fraud/feedback"; echo
