#!/usr/bin/env python3
"""report.py RUNDIR DOC -- turn one scripts/bench run into docs/performance.md.

Reads RUNDIR/results.tsv (one line per timed run), facts.txt and machine.txt (key=value),
commands.tsv (the exact command of each measurement), the tools' --json outputs under
RUNDIR/out, and the strace summaries. Prints the markdown and writes it to DOC (unless DOC
is empty). The text between `<!-- analysis:begin -->` and `<!-- analysis:end -->` of an
existing DOC is kept. Part of scripts/bench."""
import json, os, re, statistics, sys

run, doc = sys.argv[1], sys.argv[2]
MB = 1e6


def kv(path):
    d = {}
    if os.path.exists(path):
        for line in open(path):
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                d[k] = v
    return d


m = kv(os.path.join(run, "machine.txt"))
facts = kv(os.path.join(run, "facts.txt"))
sections = m.get("sections", "").split(",")

runs = {}
for line in open(os.path.join(run, "results.tsv")):
    (section, tool, inp, phase, rep, size, wall, user, sys_, rss, fin, fout,
     vcs, ics, majf, out) = line.rstrip("\n").split("\t")
    j = None
    try:
        with open(out) as f:
            j = json.load(f)
    except Exception:
        pass
    runs.setdefault((section, tool, inp, phase), []).append(dict(
        rep=int(rep), size=int(size), wall=float(wall), user=float(user), sys=float(sys_),
        rss=int(rss) * 1024, fin=int(fin) * 512, fout=int(fout) * 512, json=j))

commands = []
cpath = os.path.join(run, "commands.tsv")
if os.path.exists(cpath):
    for line in open(cpath):
        commands.append(line.rstrip("\n").split("\t", 4))


def get(section, tool, inp, phase):
    return runs.get((section, tool, inp, phase))


def med(rs, key="wall"):
    return statistics.median(r[key] for r in rs)


def worst(rs, key="rss"):
    return max(r[key] for r in rs)


def allruns(rs):
    return " / ".join(f"{r['wall']:.2f}" for r in sorted(rs, key=lambda r: r["rep"]))


def mbs(nbytes, wall):
    return f"{nbytes / MB / max(wall, 0.005):,.0f}"


def ok(b):
    return "**met**" if b else "**not met**"


def cmd_table(section):
    rows = ["| tool | input | phase | command |", "|---|---|---|---|"]
    for sec, tool, inp, phase, text in commands:
        if sec == section:
            rows.append(f"| {tool} | {inp} | {phase} | `{text}` |")
    return "\n".join(rows)


def std_cols(rs):
    return (f"{med(rs, 'rss') / MB:.1f} | {med(rs, 'user'):.2f} | {med(rs, 'sys'):.2f} | "
            f"{med(rs, 'fin') / MB:,.0f} | {med(rs, 'fout') / MB:,.0f}")


STD_HEAD = "peak RSS MB | user s | sys s | disk read MB | disk write MB"
STD_ALIGN = "---:|---:|---:|---:|---:"

targets = ["| # | target | input | measured | verdict |", "|---|---|---|---|---|"]
body = []
large_mib, arch_mib, n = m["large_mib"], m["arch_mib"], m["runs"]

# ----------------------------------------------------------------- import ---
if "import" in sections and get("import", "stowage", "large", "first"):
    phases = {"first": "first import", "reimport": "re-import"}
    t = [f"| tool | input | phase | archive MB | wall s (median) | wall s (all runs) | MB/s | {STD_HEAD} | bytesRead (--json) |",
         f"|---|---|---|---:|---:|---|---:|{STD_ALIGN}|---:|"]
    for inp in ["large", "3-arch"]:
        for phase in ["first", "reimport"]:
            for tool in ["stowage", "stowage-each", "skopeo", "skopeo-raw"]:
                rs = get("import", tool, inp, phase)
                if not rs:
                    continue
                read = "—"
                if tool == "stowage" and all(r["json"] for r in rs):
                    read = f"{int(statistics.median(sum(x['bytesRead'] for x in r['json']) for r in rs)):,}"
                t.append(f"| {tool} | {inp} | {phases[phase]} | {rs[0]['size'] / MB:,.1f} | {med(rs):.2f} | {allruns(rs)} | "
                         f"{mbs(rs[0]['size'], med(rs))} | {std_cols(rs)} | {read} |")
    body.append(f"""## 1. Import

`stowage import` against `skopeo copy oci-archive: oci:` (issue 1). **large**: one
oci-archive whose only layer (`application/vnd.oci.image.layer.v1.tar`, uncompressed) is a
tar of one file of {large_mib} MiB from `/dev/urandom`. **3-arch**: three single-image
oci-archives (amd64, arm64, ppc64le), each a 1 MiB random base layer (the same blob in all
three) and its own {arch_mib} MiB random layer. Random data does not compress, and the
archives are plain tar, made with `head -c`, GNU `tar` and `scripts/bench.d/assemble.py`.

**skopeo** is the command exactly as the spec names it. By default skopeo gzips every
uncompressed layer it writes to an `oci:` layout, so it does more work than stowage (which
stores the archive's bytes as they are) and writes a different manifest. **skopeo-raw** adds
`--dest-oci-accept-uncompressed-layers`: a byte-for-byte copy, the like-for-like
comparison. skopeo takes one archive per command; for the 3-arch set the three copies are
timed together. skopeo runs with `TMPDIR` in the work dir (it unpacks an oci-archive there
before copying). Every first import goes into a fresh layout, every re-import into the
layout the last first import filled. After the first imports the script checks that
`skopeo inspect --raw` gives the same manifest from the stowage layout as from the
skopeo-raw layout, and the same config as from the plain skopeo layout (checked: {facts.get('import_large_manifests_match', '?')}).

{cmd_table('import')}

{chr(10).join(t)}

`bytesRead` is the bytes stowage read from the archive files (`--json`). For the 3-arch
skopeo rows, peak RSS is the largest of the three skopeo processes. **stowage-each** is one
`stowage import` per archive, the three timed together, against one call with all three
(issue 11).
""")
    for other, what in [("skopeo", "skopeo copy as specified (gzips)"), ("skopeo-raw", "skopeo-raw (same work)")]:
        for inp in ["large", "3-arch"]:
            s, k = get("import", "stowage", inp, "first"), get("import", other, inp, "first")
            if s and k:
                r = med(k) / med(s)
                targets.append(f"| 1 | import ≥ 2× faster than {what}, first import | {inp} | {med(k):.2f} s / {med(s):.2f} s = {r:.2f}× | {ok(r >= 2)} |")
    rs = get("import", "stowage", "large", "first")
    targets.append(f"| 1 | import peak RSS < 64 MB, {large_mib} MiB layer (worst of {len(rs)}) | large | {worst(rs) / MB:.1f} MB | {ok(worst(rs) < 64e6)} |")
    for phase in ["first", "reimport"]:
        one, each = get("import", "stowage", "3-arch", phase), get("import", "stowage-each", "3-arch", phase)
        if one and each:
            targets.append(f"| 11 | import of several archives in one call no slower than one call per archive, {phase} import | 3-arch | {med(one):.2f} s / {med(each):.2f} s = {med(one) / med(each):.2f}× | {ok(med(one) <= med(each))} |")
    for inp in ["large", "3-arch"]:
        f, r = get("import", "stowage", inp, "first"), get("import", "stowage", inp, "reimport")
        if f and r:
            ratio = med(r) / med(f)
            extra = ""
            if all(x["json"] for x in r):
                rd = statistics.median(sum(y["bytesRead"] for y in x["json"]) for x in r)
                extra = f"; bytesRead {100 * rd / r[0]['size']:.3f} % of the archive"
            targets.append(f"| 1 | re-import < 5 % of first import | {inp} | {med(r):.3f} s / {med(f):.2f} s = {100 * ratio:.1f} %{extra} | {ok(ratio < 0.05)} |")

# ----------------------------------------------------------------- verify ---
if "verify" in sections and get("verify", "stowage", "large", "verify"):
    label = {("stowage", "verify"): "stowage verify", ("stowage", "verify-fast"): "stowage verify --fast",
             ("sha256sum", "verify"): "sha256sum (floor)", ("sha256sum-P2", "verify"): "sha256sum, 2 processes (xargs -P2)",
             ("openssl", "verify"): "openssl dgst -sha256 (floor, issue 11)",
             ("openssl-P2", "verify"): "openssl dgst -sha256, 2 processes (xargs -P2 -n64)"}
    t = [f"| tool | layout | blob MB | wall s (median) | wall s (all runs) | MB/s | {STD_HEAD} |",
         f"|---|---|---:|---:|---|---:|{STD_ALIGN}|"]
    for inp in ["large", "3-arch"]:
        for (tool, phase), name in label.items():
            rs = get("verify", tool, inp, phase)
            if rs:
                t.append(f"| {name} | {inp} | {rs[0]['size'] / MB:,.1f} | {med(rs):.2f} | {allruns(rs)} | {mbs(rs[0]['size'], med(rs))} | {std_cols(rs)} |")
    clean = all(r["json"] and r["json"].get("clean") for k, v in runs.items() if k[0] == "verify" and k[1] == "stowage" for r in v)
    body.append(f"""## 2. Verify

`stowage verify` (every reachable blob hashed) and `verify --fast` (existence and sizes
only), against `sha256sum` of the same blob files as the floor, and two `sha256sum`
processes side by side (`xargs -P2`) as a second floor. **large**: the layout of the large
import ({facts.get('verify_large_blobs', '?')} blobs, {int(facts.get('verify_large_bytes', 0)) / MB:,.1f} MB, one of them the
{large_mib} MiB layer). **3-arch**: the 3-arch set imported into one layout with the index
`bench/app:multi` ({facts.get('verify_3-arch_blobs', '?')} blobs, {int(facts.get('verify_3-arch_bytes', 0)) / MB:,.1f} MB). MB/s = blob bytes / wall
time, page cache dropped before each run, so the blobs are read from disk. Every stowage
verify reported the layout clean: {'yes' if clean else 'NO'}. `openssl dgst -sha256` is the
floor of issue 11: it uses the CPU's SHA extensions (sha_ni: {m.get('sha_ni', '?')}), which
coreutils' `sha256sum` does not; one process for the large blob, two for many blobs.

{cmd_table('verify')}

{chr(10).join(t)}
""")
    for inp in ["large", "3-arch"]:
        s = get("verify", "stowage", inp, "verify")
        for floor, name in [("sha256sum", "sha256sum"), ("sha256sum-P2", "sha256sum ×2 (xargs -P2)")]:
            f = get("verify", floor, inp, "verify")
            if s and f:
                size = s[0]["size"]
                targets.append(f"| 2 | verify at least as fast as the floor, {name} | {inp} | {mbs(size, med(s))} MB/s vs {mbs(size, med(f))} MB/s ({med(f) / med(s):.2f}×) | {ok(med(s) <= med(f))} |")
    for inp, floor, what, limit in [("large", "openssl", "verify of one large blob within 1.1 × `openssl dgst -sha256`", 1.1),
                                    ("3-arch", "openssl-P2", "full verify within 1.2 × `openssl dgst -sha256` on 2 processes", 1.2)]:
        s, f = get("verify", "stowage", inp, "verify"), get("verify", floor, inp, "verify")
        if s and f:
            targets.append(f"| 11 | {what} | {inp} | {med(s):.2f} s / {med(f):.2f} s = {med(s) / med(f):.2f}× | {ok(med(s) <= limit * med(f))} |")

# --------------------------------------------------------------------- gc ---
if "gc" in sections and get("gc", "stowage", "gc-layout", "gc"):
    g = json.loads(facts.get("gc_layout", "{}"))
    t = [f"| command | wall s (median) | wall s (all runs) | {STD_HEAD} | blobs removed | MB freed |",
         f"|---|---:|---|{STD_ALIGN}|---:|---:|"]
    for phase, name in [("dry-run", "gc --dry-run --grace 0"), ("gc", "gc --grace 0"), ("verify-after", "verify after gc")]:
        rs = get("gc", "stowage", "gc-layout", phase)
        if not rs:
            continue
        removed = freed = "—"
        if phase != "verify-after" and all(r["json"] for r in rs):
            removed = f"{int(statistics.median(len(r['json']['removedBlobs']) for r in rs)):,}"
            freed = f"{statistics.median(r['json']['bytesFreed'] for r in rs) / MB:.1f}"
        t.append(f"| `stowage {name}` | {med(rs):.2f} | {allruns(rs)} | {std_cols(rs)} | {removed} | {freed} |")
    gcruns = get("gc", "stowage", "gc-layout", "gc")
    exact = all(facts.get(f"gc_removed_{r['rep']}") == str(g.get("unreferenced")) and facts.get(f"gc_left_{r['rep']}") == str(g.get("reachable")) for r in gcruns)
    vclean = all(facts.get(f"gc_verify_clean_{r['rep']}") == "True" for r in gcruns)
    body.append(f"""## 3. Garbage collection

A layout written directly by `scripts/bench.d/gc-layout.py` (no stowage involved):
{g.get('blobs', '?'):,} blobs ({g.get('bytes', 0) / MB:.1f} MB), {g.get('references', '?'):,} references in `index.json`, each an
image with its own config, one of 10 shared base layers and 3 layers of its own (1–4 KiB
each): {g.get('reachable', '?'):,} blobs reachable, {g.get('unreferenced', '?'):,} unreferenced. Every run works on a fresh
`cp -a` of it (not timed), page cache dropped. After every `gc` the script checks that
exactly the {g.get('unreferenced', '?'):,} unreferenced blobs were removed and the {g.get('reachable', '?'):,} reachable ones are left
(checked: {'yes' if exact else 'NO'}), and runs `stowage verify` on the result (clean: {'yes' if vclean else 'NO'}).

{cmd_table('gc')}

{chr(10).join(t)}
""")
    targets.append(f"| 3 | gc removes exactly the unreferenced blobs; verify passes afterwards | {g.get('blobs', 0):,} blobs, {g.get('references', 0):,} refs | {g.get('unreferenced', '?'):,} removed, {g.get('reachable', '?'):,} left, verify clean in {len(gcruns)} of {len(gcruns)} runs; gc {med(gcruns):.2f} s, dry-run {med(get('gc', 'stowage', 'gc-layout', 'dry-run')):.2f} s | {ok(exact and vclean)} |")

# ----------------------------------------------------------------- export ---
if "export" in sections and get("export", "stowage", "3-arch", "export"):
    t = [f"| tool | blob MB | wall s (median) | wall s (all runs) | MB/s | {STD_HEAD} | archive MB |",
         f"|---|---:|---:|---|---:|{STD_ALIGN}|---:|"]
    for tool in ["stowage", "skopeo", "skopeo-raw"]:
        rs = get("export", tool, "3-arch", "export")
        if rs:
            t.append(f"| {tool} | {rs[0]['size'] / MB:,.1f} | {med(rs):.2f} | {allruns(rs)} | {mbs(rs[0]['size'], med(rs))} | {std_cols(rs)} | {int(facts.get(f'export_{tool}_archive_bytes', 0)) / MB:,.1f} |")
    body.append(f"""## 4. Export

`stowage export` of the 3-arch layout (the three images and the index `bench/app:multi`
that lists them, {int(facts.get('sync_layout_blob_bytes', 0)) / MB:,.1f} MB of blobs) into a plain oci-archive, against
`skopeo copy --all` of the index into an `oci-archive:` (skopeo writes one image or index
per archive; the index reaches every blob of the layout, so both archives hold the same
blobs, stowage's with four names, skopeo's with one). Plain skopeo gzips the layers on the
way; skopeo-raw adds `--dest-oci-accept-uncompressed-layers`. MB/s = blob bytes of the
layout / wall time. The script checks that `skopeo inspect --raw oci-archive:…:bench/app:multi`
of stowage's archive gives the layout's index digest (checked: {facts.get('export_readback', '?')}).

{cmd_table('export')}

{chr(10).join(t)}
""")
    s = get("export", "stowage", "3-arch", "export")
    targets.append(f"| 4 | export peak RSS < 64 MB (worst of {len(s)}) | 3-arch | {worst(s) / MB:.1f} MB; {mbs(s[0]['size'], med(s))} MB/s | {ok(worst(s) < 64e6)} |")
    for other in ["skopeo", "skopeo-raw"]:
        k = get("export", other, "3-arch", "export")
        if k:
            targets.append(f"| 4 | (no target) export vs {other} | 3-arch | {med(k):.2f} s / {med(s):.2f} s = {med(k) / med(s):.2f}× | — |")

# --------------------------------------------------------------------- ls ---
if "ls" in sections and get("ls", "stowage", "gc-layout", "ls"):
    t = ["| command | layout | page cache | wall s (median) | wall s (all runs) | peak RSS MB | user s | sys s | disk read MB |",
         "|---|---|---|---:|---|---:|---:|---:|---:|"]
    for inp in ["gc-layout", "gc-layout+platform"]:
        for phase, name, cache in [("ls", "ls", "dropped"), ("ls-json", "ls --json", "dropped"),
                                   ("ls-warm", "ls", "warm"), ("ls-json-warm", "ls --json", "warm")]:
            rs = get("ls", "stowage", inp, phase)
            if rs:
                t.append(f"| `stowage {name}` | {inp} | {cache} | {med(rs):.3f} | " + " / ".join(f"{r['wall']:.2f}" for r in rs)
                         + f" | {med(rs, 'rss') / MB:.1f} | {med(rs, 'user'):.2f} | {med(rs, 'sys'):.2f} | {med(rs, 'fin') / MB:,.1f} |")
    body.append(f"""## 5. List

`stowage ls` and `ls --json` of two layouts with {m['gc_refs']} references ({m['gc_blobs']} blobs; `ls` printed
{facts.get('ls_lines', '?')} image lines). **gc-layout** is the gc layout before gc, written the way skopeo writes
`index.json`: the entries carry no `platform`, so for its PLATFORMS column `ls` reads each
image's manifest and config (2 small files per reference). **gc-layout+platform** is a copy
whose `index.json` entries carry `platform`, as `stowage import` writes them, so `ls` reads
`index.json` only. The page cache is dropped before each run as everywhere else; then {n}
more runs each with the layout in the page cache ("warm"). GNU time reports wall time
with 10 ms resolution.

{cmd_table('ls')}

{chr(10).join(t)}
""")
    for inp in ["gc-layout", "gc-layout+platform"]:
        for phase, name in [("ls", "ls"), ("ls-json", "ls --json")]:
            rs, w = get("ls", "stowage", inp, phase), get("ls", "stowage", inp, phase + "-warm")
            if not rs:
                continue
            warm = f"; warm cache {med(w):.2f} s" if w else ""
            targets.append(f"| 5 | `{name}` with {m['gc_refs']} references < 0.2 s (page cache dropped) | {inp} | {med(rs):.2f} s{warm} | {ok(med(rs) < 0.2)} |")

# --------------------------------------------------------------- registry ---
if "registry" in sections and get("registry", "stowage", "3-arch", "first-sync"):
    def regbytes(tool):
        vals = [int(v) for k, v in facts.items() if k.startswith(f"sync_{tool}_registry_bytes_")]
        return f"{statistics.median(vals) / MB:,.0f}" if vals else "—"
    names = {"stowage": "stowage sync", "skopeo": "skopeo copy ×4 (sum)", "skopeo-raw": "skopeo-raw ×4 (sum)",
             "curl": "curl -P4, blobs only (floor)", "buildah": "buildah manifest push --all"}
    tick = float(m.get("clk_tck", 100))

    def regcpu(tool, inp, phase):
        vals = [int(v) / tick for k, v in facts.items() if k.startswith(f"regcpu.registry.{tool}.{inp}.{phase}.")]
        return f"{statistics.median(vals):.2f}" if vals else "—"
    t = [f"| tool | phase | blob MB | wall s (median) | wall s (all runs) | MB/s | peak RSS MB | user s | sys s | registry CPU s | disk read MB | registry storage MB | index digest kept |",
         f"|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for phase in ["first-sync", "re-sync"]:
        for tool in ["stowage", "skopeo", "skopeo-raw", "buildah", "curl"]:
            rs = get("registry", tool, "3-arch", phase)
            if rs:
                t.append(f"| {names[tool]} | {phase} | {rs[0]['size'] / MB:,.1f} | {med(rs):.2f} | {allruns(rs)} | {mbs(rs[0]['size'], med(rs))} | "
                         f"{med(rs, 'rss') / MB:.1f} | {med(rs, 'user'):.2f} | {med(rs, 'sys'):.2f} | {regcpu(tool, '3-arch', phase)} | {med(rs, 'fin') / MB:,.0f} | "
                         f"{regbytes(tool) if phase == 'first-sync' else '—'} | {facts.get(f'sync_{tool}_index_same', '—') if phase == 'first-sync' else '—'} |")
    tb = [f"| tool | blob MB | wall s (median) | wall s (all runs) | MB/s | {STD_HEAD} | registry CPU s |",
          f"|---|---:|---:|---|---:|{STD_ALIGN}|---:|"]
    for tool in ["stowage", "skopeo-raw", "skopeo"]:
        rs = get("registry", tool, "large", "push")
        if rs:
            tb.append(f"| {tool} | {rs[0]['size'] / MB:,.1f} | {med(rs):.2f} | {allruns(rs)} | {mbs(rs[0]['size'], med(rs))} | {std_cols(rs)} | {regcpu(tool, 'large', 'push')} |")
    summary = ""
    s1 = get("registry", "stowage", "3-arch", "first-sync")
    if s1 and s1[0]["json"]:
        sm = s1[0]["json"].get("summary", {})
        summary = (f" stowage's own summary of its first sync: {sm.get('blobsSent')} blobs sent, {sm.get('blobsMounted')} mounted, "
                   f"{sm.get('blobsPresent')} present, {sm.get('manifests')} manifests, {sm.get('bytes', 0) / MB:,.1f} MB.")
    rs1 = get("registry", "stowage", "3-arch", "re-sync")
    if rs1 and rs1[0]["json"]:
        sm = rs1[0]["json"].get("summary", {})
        summary += f" On the re-sync: {sm.get('blobsSent')} blobs sent, {sm.get('manifests')} manifests written."
    bnote = facts.get("buildah", "—")
    body.append(f"""## 6. Registry: sync and push

Against a local `docker-registry` ({m.get('registry', '?')}) on 127.0.0.1, plain HTTP,
filesystem storage in the work dir; it runs on the same 2 cores as the tool measured. The
registry is restarted with empty storage before every first sync and every push, so
nothing is skipped or mounted from an earlier run. The layout: the 3-arch set as three
single-arch images `bench:amd64`, `bench:arm64`, `bench:ppc64le` plus the index
`bench/app:multi` made with `stowage index create` ({facts.get('sync_layout_refs', '?')} references,
{facts.get('sync_layout_blobs', '?')} blobs, {int(facts.get('sync_layout_blob_bytes', 0)) / MB:,.1f} MB). MB/s = blob bytes of the layout / wall time.

- **stowage sync** pushes all four references (`bench:ARCH` → `s/bench:ARCH`, the index →
  `s/bench/app:multi`), blobs sent once and mounted across repositories.
- **skopeo** is the sum of one `skopeo copy oci:LAYOUT:REF docker://…/k/REF` per reference,
  `--all` for the index, timed together: four processes, as a script would run them. By
  default skopeo gzips uncompressed layers for a registry, so its digests differ from the
  layout's; **skopeo-raw** adds `--preserve-digests`, which keeps the layers as they are
  (the like-for-like comparison). skopeo can mount blobs it pushed to another repository
  of the registry (it remembers them in its blob-info cache), so the index copy does not
  upload the layers again.
- **buildah** ({bnote}): the three oci-archives pulled into an isolated containers-storage
  (`--root`/`--runroot` in the work dir, `STORAGE_DRIVER=vfs`, `BUILDAH_ISOLATION=chroot`),
  `buildah manifest create` + `buildah manifest add` of the three images (not timed); only
  `buildah manifest push --all` of the list to `b/bench/app:multi` is timed. It pushes the
  index and its three images, not the three single-arch tags.
- **curl -P4** is a floor, not a competitor: every blob file of the layout uploaded once,
  4 at a time, by `scripts/bench.d/curl-upload.sh` (POST, then one monolithic PUT streamed
  from the file), no manifests, no checks. It shows what the registry itself costs.
- **re-sync**: the same command again, into the registry that the same tool filled (an
  untimed first sync right before), layout unchanged.
- **push of the {large_mib} MiB layer**: `stowage push` of the large import's image, against
  `skopeo copy --preserve-digests oci:… docker://…` (and plain skopeo, which gzips the layer on
  the way), each into an empty registry.

"registry CPU s" is the user + system time the registry process used during the run
(from `/proc/PID/stat`); the registry shares the 2 cores with the client. "registry storage
MB" is `du -sb` of the registry's storage after the first sync: what was uploaded (gzip or
not; mounts cost nothing). "index digest kept": the registry serves the
layout's index bytes (`sha256:…` of `skopeo inspect --raw`).{summary}

{cmd_table('registry')}

{chr(10).join(t)}

Push of the {large_mib} MiB layer:

{chr(10).join(tb)}
""")
    for other, what in [("skopeo", "skopeo copy ×4 as specified (gzips)"), ("skopeo-raw", "skopeo --preserve-digests ×4 (same work)")]:
        k = get("registry", other, "3-arch", "first-sync")
        if k:
            r = med(k) / med(s1)
            targets.append(f"| 6 | first sync ≥ 2× faster than {what} | 3-arch | {med(k):.2f} s / {med(s1):.2f} s = {r:.2f}× | {ok(r >= 2)} |")
    k = get("registry", "buildah", "3-arch", "first-sync")
    if k:
        targets.append(f"| 6 | (no target) first sync vs buildah manifest push --all | 3-arch | {med(k):.2f} s / {med(s1):.2f} s = {med(k) / med(s1):.2f}× | — |")
    k = get("registry", "curl", "3-arch", "first-sync")
    if k:
        targets.append(f"| 6 | (no target) first sync vs the floor, curl -P4 of the blobs alone | 3-arch | {med(s1):.2f} s / {med(k):.2f} s = {med(s1) / med(k):.2f}× the floor's time | — |")
    if rs1:
        targets.append(f"| 6 | re-sync of the unchanged layout < 1 s | 3-arch | {med(rs1):.2f} s (worst {max(r['wall'] for r in rs1):.2f} s) | {ok(med(rs1) < 1)} |")
    bp = get("registry", "stowage", "large", "push")
    if bp:
        targets.append(f"| 6 | push peak RSS < 64 MB, {large_mib} MiB layer (worst of {len(bp)}) | large | {worst(bp) / MB:.1f} MB; {mbs(bp[0]['size'], med(bp))} MB/s | {ok(worst(bp) < 64e6)} |")

# ------------------------------------------------------------------ scale ---
# Written between <!-- scale:begin --> and <!-- scale:end -->. A run of the scale section
# alone rewrites only this block of an existing DOC (see the end of this file).
SCALE_RE = r"<!-- scale:begin -->.*?<!-- scale:end -->"
MIB = 1024 * 1024


def scale_section():
    if not get("scale", "stowage", "scale-layout", "tag"):
        return ""
    L = json.loads(facts.get("scale_layout", "{}"))
    H = json.loads(facts.get("huge_layout", "{}"))
    ms = lambda x: f"{1000 * x:,.0f}"
    names = {"tag": "stowage tag IMG NEW", "rm": "stowage rm NAME", "import-naming": "stowage import --tag NEW small.tar",
             "tag-x16": "16 × stowage tag at once (total)", "ls": "stowage ls", "ls-repo": "stowage ls team/repo7",
             "inspect": "stowage inspect team/repo7:t000007", "gc-dry-run": "stowage gc --dry-run --grace 0",
             "verify-fast": "stowage verify --fast", "verify": "stowage verify"}
    t = ["| command | page cache | wall ms (median) | wall s (all runs) | peak RSS MB | user s | sys s | disk read MB |",
         "|---|---|---:|---|---:|---:|---:|---:|"]
    for phase in ["tag", "rm", "import-naming", "tag-x16", "ls", "ls-repo", "inspect", "gc-dry-run", "verify-fast", "verify"]:
        for sfx, cache in [("", "dropped"), ("-warm", "warm")]:
            rs = get("scale", "stowage", "scale-layout", phase + sfx)
            if rs:
                t.append(f"| `{names[phase]}` | {cache} | {ms(med(rs))} | {allruns(rs)} | {med(rs, 'rss') / MB:.1f} | "
                         f"{med(rs, 'user'):.2f} | {med(rs, 'sys'):.2f} | {med(rs, 'fin') / MB:,.1f} |")
    o = get("scale", "openssl-P2", "scale-layout", "verify")
    ow = get("scale", "openssl-P2", "scale-layout", "verify-warm")
    for rs, cache in [(o, "dropped"), (ow, "warm")]:
        if rs:
            t.append(f"| `xargs -0 -P2 -n2000 openssl dgst -sha256` (the reachable blob files) | {cache} | {ms(med(rs))} | {allruns(rs)} | "
                     f"{med(rs, 'rss') / MB:.1f} | {med(rs, 'user'):.2f} | {med(rs, 'sys'):.2f} | {med(rs, 'fin') / MB:,.1f} |")
    nruns = len(get("scale", "stowage", "scale-layout", "tag"))
    conc = get("scale", "stowage", "scale-layout", "tag-x16") or []
    commas = lambda x: f"{int(x):,}" if str(x).isdigit() else str(x)
    conc_names = [facts.get(f"scale_conc_names_{r['rep']}", "?") for r in conc]
    conc_missing = [facts.get(f"scale_conc_missing_{r['rep']}", "?") for r in conc]
    conc_verify = [facts.get(f"scale_conc_verify_{r['rep']}", "?") for r in conc]
    conc_ok = bool(conc) and all(n == str(L.get("references", 0) + 16) for n in conc_names) and all(x == "none" for x in conc_missing) and all(v == "clean" for v in conc_verify)
    gcr = [facts.get(f"scale_gc_removed_{r['rep']}", "?") for r in (get("scale", "stowage", "scale-layout", "gc-dry-run") or [])]
    vclean = [facts.get(f"scale_verify_clean_{i}", "?") for i in range(1, nruns + 1)]
    vfclean = [facts.get(f"scale_verify_fast_clean_{i}", "?") for i in range(1, nruns + 1)]
    olines = [facts.get(f"scale_openssl_lines_{i}", "?") for i in range(1, nruns + 1)]
    lsf = facts.get("scale_ls_filter") == "1"
    reach_mb = int(facts.get("scale_reach_bytes", 0)) / MB

    # The huge index.
    hidx = int(facts.get("huge_index_bytes", H.get("index_bytes", 0)))
    limit = 1.5 * hidx + 64 * MIB
    hnames = {"ls": "stowage ls", "verify-fast": "stowage verify --fast", "export": "stowage export -o FILE",
              "sync-dry-run": "stowage sync --dry-run --tls-verify=false 127.0.0.1:9"}
    th = ["| command | wall s (median) | wall s (all runs) | peak RSS MB (median) | peak RSS MB (worst) | limit MB | exit status |",
          "|---|---:|---|---:|---:|---:|---|"]
    htargets = []
    for phase, name in hnames.items():
        rs = get("scale", "stowage", "huge", phase)
        if not rs:
            continue
        rcs = sorted({facts.get(f"rc.scale.stowage.huge.{phase}.{r['rep']}", "0") for r in rs})
        th.append(f"| `{name}` | {med(rs):.2f} | {allruns(rs)} | {med(rs, 'rss') / MB:.1f} | {worst(rs) / MB:.1f} | {limit / MB:.1f} | {', '.join(rcs)} |")
        htargets.append(f"| peak RSS of `{name}` ≤ 1.5 × index.json + 64 MiB (worst of {len(rs)}) | huge | {worst(rs) / MB:.1f} MB vs {limit / MB:.1f} MB ({worst(rs) / hidx:.2f} × index.json) | {ok(worst(rs) <= limit)} |")

    tt = ["| target (issue 11) | input | measured (page cache dropped; warm in brackets) | verdict |", "|---|---|---|---|"]

    def row(what, phase, limit_s, label=None):
        rs = get("scale", "stowage", "scale-layout", phase)
        if not rs:
            return
        w = get("scale", "stowage", "scale-layout", phase + "-warm")
        warm = f" ({ms(med(w))} ms)" if w else ""
        tt.append(f"| {what} ≤ {ms(limit_s)} ms | {L.get('references', 0):,} refs | {ms(med(rs))} ms{warm} | {ok(med(rs) <= limit_s)} |")
    row("index edit: `tag`", "tag", 0.05)
    row("index edit: `rm`", "rm", 0.05)
    row("index edit: naming step of `import --tag` (blobs present)", "import-naming", 0.05)
    if conc:
        eps = 16 / med(conc)
        tt.append(f"| 16 concurrent writers ≥ 20 edits/s | {L.get('references', 0):,} refs | 16 / {med(conc):.2f} s = {eps:.1f} edits/s; names afterwards {', '.join(map(commas, conc_names))} (expected {L.get('references', 0) + 16:,}), missing: {', '.join(conc_missing)}; verify --fast: {', '.join(conc_verify)} | {ok(eps >= 20 and conc_ok)} |")
    row("`ls`", "ls", 0.1)
    if lsf:
        row("`ls team/repo7`", "ls-repo", 0.03)
    else:
        tt.append("| `ls team/repo7` ≤ 30 ms | — | not measured: `stowage ls` takes no repository argument (`ls --help`) | — |")
    row("`inspect`", "inspect", 0.03)
    for phase, what in [("gc-dry-run", "`gc --dry-run`"), ("verify-fast", "`verify --fast`")]:
        rs = get("scale", "stowage", "scale-layout", phase)
        w = get("scale", "stowage", "scale-layout", phase + "-warm")
        if rs:
            warm = f" ({med(w):.2f} s)" if w else ""
            tt.append(f"| {what} ≤ 2 s | {L.get('blobs', 0):,} blobs | {med(rs):.2f} s{warm} | {ok(med(rs) <= 2)} |")
    v = get("scale", "stowage", "scale-layout", "verify")
    vw = get("scale", "stowage", "scale-layout", "verify-warm")
    if v and o:
        r = med(v) / med(o)
        warm = f" ({med(vw):.2f} s / {med(ow):.2f} s = {med(vw) / med(ow):.2f}×)" if vw and ow else ""
        tt.append(f"| full `verify` within 1.2 × `openssl dgst -sha256` on 2 processes | {L.get('reachable', 0):,} reachable blobs, {reach_mb:.1f} MB | {med(v):.2f} s / {med(o):.2f} s = {r:.2f}×{warm} | {ok(r <= 1.2)} |")
    tt += htargets

    sync_note = facts.get("huge_sync_err", "")
    connects = facts.get("huge_sync_connects")
    netline = ""
    if connects is not None:
        netline = (f" Under `strace -f -e trace=connect` (one more run, untimed) it made {connects} `connect()` call(s), "
                   f"{facts.get('huge_sync_connects_port9', '?')} of them to port 9.")
    dirty = "" if m["dirty"] == "0" else f" plus {m['dirty']} uncommitted change(s) under Sources/ or Package.swift"
    tsc = int(facts.get("t_scale", 0))
    return f"""<!-- scale:begin -->
## 7. Scale: {L.get('references', 0):,} references and a {hidx / MB:,.0f} MB index.json (issue 11)

Run of {m['date']}, stowage commit {m['commit']}{dirty}, {n} runs per measurement (median),
page cache dropped before every run (worked: {m['cachedrop']}) unless the row says warm;
load average before {m['load_before']}, after {m['load_after']}; the section took {tsc // 60} min {tsc % 60:02d} s.
GNU time reports wall time in 10 ms steps, so the millisecond figures are multiples of 10.

**The layout** (`scripts/bench.d/scale-layout.py`, no stowage involved):
{L.get('references', 0):,} references over {L.get('repositories', 0):,} repositories (`team/repoR:tNNNNNN`), {L.get('blobs', 0):,} blobs
({L.get('bytes', 0) / MB:.1f} MB): each reference is its own image (manifest, config, one of 10 shared
layers and 2 layers of its own, 200–600 random bytes each), so {L.get('reachable', 0):,} blobs are reachable
and {L.get('unreferenced', 0):,} unreferenced. index.json is {L.get('index_bytes', 0) / MB:.2f} MB; its entries carry
`platform`, as `stowage import` writes them. Every run works on a copy (blob files hard-linked,
index.json copied). The edits (`tag` of a new name, `rm` of a generated name, `import --tag`
of a {int(facts.get('scale_small_bytes', 0)):,}-byte archive whose blobs an untimed import already stored, so only
the name is added) run on one copy in turn; names counted afterwards: {' found, expected '.join(map(commas, facts.get('scale_names_after_edits', '?/?').split('/')))}.

**16 writers**: before each run index.json is reset to the generated one; then 16
`stowage tag` processes start at once, each adding a different new name, and the run is
timed until the last one exits. Afterwards the script counts the names and checks that
all 16 new ones are there, and runs `stowage verify --fast`; a missing name or a failed
verify stops the benchmark. Names after each run: {', '.join(map(commas, conc_names)) or '—'}
(expected {L.get('references', 0) + 16:,}); missing: {', '.join(conc_missing) or '—'}; verify --fast: {', '.join(conc_verify) or '—'}.

**Reads**: `ls` (all {commas(facts.get('scale_ls_lines', '?'))} lines), {'`ls team/repo7`' if lsf else '`ls team/repo7` is **not measured**: `stowage ls --help` lists no repository argument, only `--layout`, `--json` and `--all`'},
`inspect`, `gc --dry-run --grace 0` (would remove: {', '.join(map(commas, gcr)) or '—'}; unreferenced: {L.get('unreferenced', '?'):,}), `verify --fast`
(clean: {', '.join(vfclean)}) and full `verify` (clean: {', '.join(vclean)}), each {n} times with the page
cache dropped, then {n} times with the layout in the page cache ("warm"). Full verify is compared
with `openssl dgst -sha256` of the same {L.get('reachable', 0):,} reachable blob files ({reach_mb:.1f} MB) on 2
processes (`xargs -0 -P2 -n2000`; it printed {', '.join(map(commas, olines))} digests); verify, verify --fast,
gc --dry-run and openssl alternate from run to run.

**The huge index**: a second generated layout of {H.get('references', 0):,} index.json entries, each with a
{H.get('annotation_bytes', 0):,}-byte `org.opencontainers.image.description` annotation, naming {H.get('images', 0):,} small images
({H.get('blobs', 0):,} blobs): index.json is {hidx / MB:.1f} MB, so the limit, 1.5 × index.json + 64 MiB, is
{limit / MB:.1f} MB. `export` writes the archive into the work dir ({int(facts.get('huge_export_bytes', 0)) / MB:,.1f} MB). `sync --dry-run` to
127.0.0.1:9, where nothing listens: it makes the plan from index.json, then asks the
registry what it lacks (HEAD requests) and fails on the refused connection; its exit
status is recorded, not checked. Its last words: `{sync_note or '—'}`.{netline}

{cmd_table('scale')}

{chr(10).join(t)}

Huge index ({hidx / MB:.1f} MB index.json):

{chr(10).join(th)}

Targets:

{chr(10).join(tt)}
<!-- scale:end -->"""


scale_block = scale_section()

# ----------------------------------------------------------------- profile ---
def strace_block(name, title):
    p = os.path.join(run, name)
    if not os.path.exists(p) or not open(p).read().strip():
        return ""
    lines = open(p).read().strip().splitlines()
    if len(lines) > 22:
        lines = lines[:20] + ["...", lines[-1]]
    return f"{title} (one run, not timed):\n\n```\n" + "\n".join(lines) + "\n```\n"


profile = "\n".join(x for x in [
    strace_block("strace-import.txt", "`strace -c -f stowage import` of the large archive into a fresh layout"),
    strace_block("strace-push.txt", "`strace -c -f stowage push` of the large image into an empty registry")] if x)

analysis = "_No analysis yet: write notes between the analysis markers; scripts/bench keeps them._\n"
if doc and os.path.exists(doc):
    hit = re.search(r"<!-- analysis:begin -->\n(.*?)<!-- analysis:end -->", open(doc).read(), re.S)
    if hit:
        analysis = hit.group(1)
# Without a scale run, the scale section of an existing DOC is kept as it is.
if not scale_block and doc and os.path.exists(doc):
    hit = re.search(SCALE_RE, open(doc).read(), re.S)
    if hit:
        scale_block = hit.group(0)
# The scale section alone: only its block of an existing DOC is rewritten (inserted
# before the referrers section, or before the profile, when DOC has none yet).
if sections == ["scale"] and doc and os.path.exists(doc) and scale_block:
    text = open(doc).read()
    if re.search(SCALE_RE, text, re.S):
        text = re.sub(SCALE_RE, lambda _: scale_block, text, flags=re.S)
    elif "<!-- referrers:begin -->" in text:
        text = text.replace("<!-- referrers:begin -->", scale_block + "\n\n<!-- referrers:begin -->", 1)
    elif "\n## Profile\n" in text:
        text = text.replace("\n## Profile\n", "\n" + scale_block + "\n\n## Profile\n", 1)
    else:
        text = text.rstrip("\n") + "\n\n" + scale_block + "\n"
    print(scale_block)
    with open(doc + ".tmp", "w") as f:
        f.write(text)
    os.replace(doc + ".tmp", doc)
    print(f"bench: wrote the scale section of {doc}", file=sys.stderr)
    sys.exit(0)
# The referrers section is written by scripts/bench-referrers: kept as it is.
referrers = ""
if doc and os.path.exists(doc):
    hit = re.search(r"<!-- referrers:begin -->.*?<!-- referrers:end -->", open(doc).read(), re.S)
    if hit:
        referrers = hit.group(0) + "\n\n"
# So is the delta-bundle section at the end, written from scripts/bench.d/delta.py.
delta = ""
if doc and os.path.exists(doc):
    hit = re.search(r"<!-- delta:begin -->.*?<!-- delta:end -->", open(doc).read(), re.S)
    if hit:
        delta = hit.group(0) + "\n\n"

dirty = "" if m["dirty"] == "0" else f" plus {m['dirty']} uncommitted change(s) under Sources/ or Package.swift (the checkout is shared)"
durations = ", ".join(f"{k[2:]} {int(v) // 60}m{int(v) % 60:02d}s" for k, v in facts.items() if k.startswith("t_"))
md = f"""# Performance

Produced by `scripts/bench` on {m['date']}: stowage against the standard tools on the same
inputs, in the same run, alternating the tools. Every number is the median of {n} runs
unless stated; the page cache was dropped before every run (cache drop worked:
{m['cachedrop']}). MB = 10⁶ bytes. Section times: {durations}.

## Machine

| | |
|---|---|
| CPU | {m['cpu']}, {m['nproc']} cores (nproc), SHA extensions: {m.get('sha_ni', '?')} |
| memory | {m['memory']} |
| disk | {m['disk']} |
| kernel | {m['kernel']} |
| swift | {m['swift']} |
| stowage | commit {m['commit']}{dirty}, `swift build -c release --scratch-path .build-bench --product stowage` (commit read at build time) |
| skopeo | {m['skopeo']} |
| buildah | {m.get('buildah', '-')} |
| registry | {m.get('registry', '-')} |
| hashing floors | {m.get('coreutils', '-')}; {m.get('openssl', '-')} |
| timing | {m.get('gnutime', '-')} |
| load average (1/5/15 min) | before {m['load_before']}, after {m['load_after']} |

This is a shared 2-core VM on a virtual disk; other work (builds, tests) may run at the
same time, so treat differences under ~15 % as noise. The per-run wall times are in the
tables so the spread is visible.

## How each run is measured

Each run starts with `sync; echo 3 > /proc/sys/vm/drop_caches`, then (warm tools:
{'yes' if m['warm'] == '1' else 'no'}) reads the executables of stowage, skopeo, buildah, bash,
sha256sum, xargs, find and openssl and their shared libraries back into the cache, so
inputs are read cold but a process does not page its own code in from disk (the Swift
runtime libraries alone are ~80 MB, which would dominate the short runs). Each run is timed
with `/usr/bin/time -f '%e %U %S %M %I %O ...'`: wall, user and sys seconds, peak RSS
(`%M`; for a command that runs several processes in sequence, the largest of them), and
file-system blocks read and written. The order of the tools rotates from run to run. The
commands below are exact, with work-dir paths shortened (`run/`, `inputs/`) and the
registry's port written PORT (a new free port each time the registry restarts).

## Targets

{chr(10).join(targets)}

## Analysis

<!-- analysis:begin -->
{analysis}<!-- analysis:end -->

{chr(10).join(body)}
{scale_block + chr(10) + chr(10) if scale_block else ""}{referrers}## Profile

{profile or '(not run: BENCH_PROFILE=0 or no strace)'}
## Rerun

```
scripts/bench                                 # as root, so the page cache can be dropped
BENCH_LARGE_MIB=2048 scripts/bench            # a bigger layer
BENCH_SECTIONS=gc,ls scripts/bench            # some sections only (report: those only)
BENCH_SECTIONS=scale scripts/bench            # only the scale section of the report is rewritten
BENCH_DIR=/var/tmp/bench scripts/bench        # keep and reuse the archives
BENCH_BIG_SKOPEO_GZIP=0 BENCH_BUILDAH=0 scripts/bench   # quicker registry section
BENCH_DOC= scripts/bench                      # print only, leave docs/performance.md alone
scripts/bench-referrers                       # the referrers section (signatures, SBOMs)
```

The first run builds stowage into `.build-bench` (a few minutes on 2 cores). The
measurements of the run above took {int(facts.get('t_total', 0)) // 60} min {int(facts.get('t_total', 0)) % 60} s (sizes: large layer {large_mib} MiB,
3-arch layers {arch_mib} MiB, gc layout {m['gc_blobs']} blobs / {m['gc_refs']} references, {n} runs).
{(chr(10) + delta.rstrip(chr(10)) + chr(10)) if delta else ""}"""
print(md)
if doc:
    os.makedirs(os.path.dirname(os.path.abspath(doc)), exist_ok=True)
    with open(doc + ".tmp", "w") as f:
        f.write(md)
    os.replace(doc + ".tmp", doc)
    print(f"bench: wrote {doc}", file=sys.stderr)
