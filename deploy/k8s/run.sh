#!/bin/sh
# One sharded run on Kubernetes: the Indexed Job, then the merge Job once every
# index has finished.  Usage: deploy/k8s/run.sh [NAMESPACE]
# The merged report is in the results volume under nine-harness/merged/.
set -eu
ns=${1:-default}
here=$(dirname "$0")
kubectl -n "$ns" apply -f "$here/job.yaml"
# Complete: every index passed.  Failed: some index ended with a verdict (exit 1)
# or ran out of infrastructure retries: still a run to report.
until kubectl -n "$ns" get job nine-harness \
        -o jsonpath='{.status.conditions[?(@.type=="Complete")].status}{.status.conditions[?(@.type=="Failed")].status}' \
        | grep -q True; do
    sleep 30
done
kubectl -n "$ns" get job nine-harness -o jsonpath='{.status.failedIndexes}{"\n"}'
kubectl -n "$ns" apply -f "$here/merge-job.yaml"
kubectl -n "$ns" wait --for=condition=Complete --timeout=30m job/nine-harness-merge \
    || kubectl -n "$ns" logs job/nine-harness-merge
