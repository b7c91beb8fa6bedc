#!/usr/bin/env python3
"""scale-layout.py DIR BLOBS REFS REPOS [IMAGES [PAD]] -- write a large OCI image layout
for the scale benchmark (issue 11) directly (no stowage involved), and print a JSON
summary.

IMAGES images (default: REFS), each: its own config (os linux, architecture amd64), one
of 10 shared base layers and 2 layers of its own, and a manifest. REFS index.json
entries; entry i names image i % IMAGES `team/repoR:tNNNNNN` with R = i % REPOS
(org.opencontainers.image.ref.name) and carries `platform` as `stowage import` writes
it. With PAD > 0 every entry also carries an `org.opencontainers.image.description`
annotation of PAD bytes (the "huge index"). The remaining blobs, up to BLOBS in all, are
unreferenced. Layers are 200-600 bytes of pseudo-random bytes (seeded: the same layout
on every run), so `stowage verify` has something to hash. Also writes DIR.reachable, the
reachable blob files (NUL-separated paths relative to DIR), for the hashing floor.
With 100,000 blobs, 20,000 references, 2,000 repositories: 80,010 blobs reachable,
19,990 unreferenced, index.json ~5.7 MB. Part of scripts/bench."""
import hashlib, json, os, random, sys

out, nblobs, nrefs, nrepos = (sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
nimages = int(sys.argv[5]) if len(sys.argv) > 5 else nrefs
pad = int(sys.argv[6]) if len(sys.argv) > 6 else 0
SHARED, OWN = 10, 2
reachable = nimages * (2 + OWN) + min(SHARED, nimages)
if nblobs < reachable:
    sys.exit(f"scale-layout.py: {nblobs} blobs are fewer than the {reachable} the {nimages} images reach")
rng = random.Random(20261202)
blobdir = os.path.join(out, "blobs", "sha256")
os.makedirs(blobdir, exist_ok=True)
count = size = 0
reach = []


def store(data, keep=True):
    global count, size
    hexd = hashlib.sha256(data).hexdigest()
    path = os.path.join(blobdir, hexd)
    if os.path.exists(path):
        raise SystemExit("scale-layout.py: duplicate blob")
    with open(path, "wb") as f:
        f.write(data)
    count += 1
    size += len(data)
    if keep:
        reach.append("blobs/sha256/" + hexd)
    return {"digest": "sha256:" + hexd, "size": len(data)}


def layer():
    return {"mediaType": "application/vnd.oci.image.layer.v1.tar",
            **store(rng.randbytes(rng.randint(200, 600)))}


shared = [layer() for _ in range(min(SHARED, nimages))]
images = []
for i in range(nimages):
    layers = [shared[i % len(shared)]] + [layer() for _ in range(OWN)]
    config = {"created": "2024-01-01T00:00:00Z", "architecture": "amd64", "os": "linux",
              "config": {"Env": [f"IMAGE={i}"]},
              "rootfs": {"type": "layers", "diff_ids": [d["digest"] for d in layers]}}
    cfg = store(json.dumps(config, separators=(",", ":")).encode())
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **cfg},
                "layers": layers}
    images.append(store(json.dumps(manifest, separators=(",", ":")).encode()))
assert count == reachable, (count, reachable)
garbage = 0
while count < nblobs:
    store(rng.randbytes(rng.randint(200, 600)), keep=False)
    garbage += 1
description = ("d" * pad)
entries = []
for i in range(nrefs):
    ann = {"org.opencontainers.image.ref.name": f"team/repo{i % nrepos}:t{i:06d}"}
    if pad:
        ann["org.opencontainers.image.description"] = description
    entries.append({"mediaType": "application/vnd.oci.image.manifest.v1+json", **images[i % nimages],
                    "platform": {"architecture": "amd64", "os": "linux"}, "annotations": ann})
with open(os.path.join(out, "index.json"), "w") as f:
    json.dump({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
               "manifests": entries}, f, separators=(",", ":"))
with open(os.path.join(out, "oci-layout"), "w") as f:
    f.write('{"imageLayoutVersion":"1.0.0"}')
with open(out.rstrip("/") + ".reachable", "w") as f:
    f.write("\0".join(reach) + "\0")
print(json.dumps({"blobs": count, "bytes": size, "references": nrefs, "repositories": nrepos,
                  "images": nimages, "reachable": reachable, "unreferenced": garbage,
                  "annotation_bytes": pad,
                  "index_bytes": os.path.getsize(os.path.join(out, "index.json"))}))
