#!/usr/bin/env python3
"""gc-layout.py DIR BLOBS REFS -- write an OCI image layout for the gc and ls benchmarks
directly (no stowage involved), and print a JSON summary.

REFS images, each: its own config (os linux, architecture amd64), one of 10 shared base
layers and 3 layers of its own, a manifest, and one index.json entry named
`gc/app:tNNNN` (org.opencontainers.image.ref.name). The remaining blobs, up to BLOBS in
all, are unreferenced. With the defaults (10,000 blobs, 1,000 references): 1,000
manifests + 1,000 configs + 10 shared + 3,000 own layers = 5,010 reachable blobs and
4,990 unreferenced ones. Every blob is a real file named by its SHA-256; layers are
1-4 KiB of pseudo-random bytes (seeded, so the layout is the same on every run), so
`stowage verify` has something to hash. Part of scripts/bench."""
import hashlib, json, os, random, sys

out, nblobs, nrefs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
SHARED, OWN = 10, 3
reachable = nrefs * (2 + OWN) + min(SHARED, nrefs)
if nblobs < reachable:
    sys.exit(f"gc-layout.py: {nblobs} blobs are fewer than the {reachable} the {nrefs} references reach")
rng = random.Random(20261122)
blobdir = os.path.join(out, "blobs", "sha256")
os.makedirs(blobdir, exist_ok=True)
count = 0
size = 0


def store(data):
    global count, size
    hexd = hashlib.sha256(data).hexdigest()
    path = os.path.join(blobdir, hexd)
    if os.path.exists(path):
        raise SystemExit("gc-layout.py: duplicate blob")
    with open(path, "wb") as f:
        f.write(data)
    count += 1
    size += len(data)
    return {"digest": "sha256:" + hexd, "size": len(data)}


def layer():
    return {"mediaType": "application/vnd.oci.image.layer.v1.tar",
            **store(rng.randbytes(rng.randint(1024, 4096)))}


shared = [layer() for _ in range(min(SHARED, nrefs))]
entries = []
for i in range(nrefs):
    layers = [shared[i % len(shared)]] + [layer() for _ in range(OWN)]
    config = {"created": "2024-01-01T00:00:00Z", "architecture": "amd64", "os": "linux",
              "config": {"Env": [f"IMAGE={i}"]},
              "rootfs": {"type": "layers", "diff_ids": [d["digest"] for d in layers]}}
    cfg = store(json.dumps(config, separators=(",", ":")).encode())
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **cfg},
                "layers": layers}
    man = store(json.dumps(manifest, separators=(",", ":")).encode())
    entries.append({"mediaType": "application/vnd.oci.image.manifest.v1+json", **man,
                    "annotations": {"org.opencontainers.image.ref.name": f"gc/app:t{i:04d}"}})
assert count == reachable, (count, reachable)
garbage = 0
while count < nblobs:
    store(rng.randbytes(rng.randint(1024, 4096)))
    garbage += 1
with open(os.path.join(out, "index.json"), "w") as f:
    json.dump({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
               "manifests": entries}, f, separators=(",", ":"))
with open(os.path.join(out, "oci-layout"), "w") as f:
    f.write('{"imageLayoutVersion":"1.0.0"}')
print(json.dumps({"blobs": count, "bytes": size, "references": nrefs,
                  "reachable": reachable, "unreferenced": garbage}))
