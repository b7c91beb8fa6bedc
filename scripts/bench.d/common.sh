# Helpers shared by scripts/bench-mirror, bench-push and bench-referrers: sourced, not
# run. They expect $WORK (the run's work directory) and log() from the sourcing script.

# Tar options that make the same files give the same archive bytes.
TAR_OPTS=(--owner=0 --group=0 --numeric-owner --mtime=@1704067200 --sort=name)

# drop_caches — flush and drop the page cache (as root; quietly does nothing otherwise).
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true; }

# median — the median of the numbers on stdin (separated by spaces or newlines).
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

# ratio A B — A / B with two decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

# random_layer FILE MIB — a real tar holding one file of MIB MiB from /dev/urandom.
random_layer() {
  local d
  d=$(mktemp -d "$WORK/layer.XXXXXX")
  head -c "${2}M" /dev/urandom >"$d/data.bin"
  tar "${TAR_OPTS[@]}" -cf "$1" -C "$d" data.bin
  rm -rf "$d"
}

# write_section NAME DOC SECTION — put SECTION (which runs from `<!-- NAME:begin -->` to
# `<!-- NAME:end -->`) in place of that section of DOC, or before its "## Profile", or
# at its end; with DOC empty, print SECTION instead.
write_section() {
  if [[ -z $2 ]]; then
    printf '%s\n' "$3"
    return
  fi
  python3 - "$1" "$2" "$3" <<'EOP'
import re, sys
name, doc, section = sys.argv[1], sys.argv[2], sys.argv[3]
text = open(doc).read()
begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
if begin in text:
    text = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda m: section, text, flags=re.S)
elif "\n## Profile\n" in text:
    text = text.replace("\n## Profile\n", "\n" + section + "\n\n## Profile\n", 1)
else:
    text = text.rstrip("\n") + "\n\n" + section + "\n"
open(doc, "w").write(text)
EOP
  log "wrote $2"
}
