#!/usr/bin/env bash
# curl-upload.sh HOST REPOSITORY BLOBFILE — upload one blob file to a plain-HTTP registry
# the simplest way the distribution spec allows: POST to start an upload, then one
# monolithic PUT streamed from the file (`curl -T`) with ?digest=sha256:<file name>.
# scripts/bench runs it over every blob of a layout (xargs -P4) as the floor for a sync:
# the registry's own cost of taking the bytes, with no client logic around it.
set -euo pipefail
host=$1 repo=$2 file=$3
digest=sha256:${file##*/}
location=$(curl -fsS -X POST -D - -o /dev/null "http://$host/v2/$repo/blobs/uploads/" |
  tr -d '\r' | awk -F': ' 'tolower($1) == "location" {print $2}')
[[ -n $location ]] || { echo "curl-upload.sh: no upload location from $host" >&2; exit 1; }
case $location in http*) ;; *) location=http://$host$location ;; esac
sep='?'
[[ $location == *\?* ]] && sep='&'
curl -fsS -T "$file" -H 'Content-Type: application/octet-stream' -o /dev/null "$location${sep}digest=$digest"
