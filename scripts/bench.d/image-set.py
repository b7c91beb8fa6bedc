#!/usr/bin/env python3
"""image-set.py DIR REPOS TAGS BASE_MIB REPO_MIB TOP_KIB -- an OCI layout of REPOS x TAGS
single-platform images named bench/rN:v1.T.0 that share layers the way a real set does:
one base layer (BASE_MIB) in every image, one layer per repository (REPO_MIB) in each of its
tags, and a small top layer (TOP_KIB) of each image's own. Layers are random, uncompressed
tar media type. Part of scripts/bench-mirror."""
import hashlib, json, os, sys

out = sys.argv[1]
repos, tags = int(sys.argv[2]), int(sys.argv[3])
base_mib, repo_mib, top_kib = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
blobs = os.path.join(out, "blobs", "sha256")
os.makedirs(blobs, exist_ok=True)


def store(data, media_type):
    hexd = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, hexd), "wb") as f:
        f.write(data)
    return {"mediaType": media_type, "digest": "sha256:" + hexd, "size": len(data)}


layer_type = "application/vnd.oci.image.layer.v1.tar"
base = store(os.urandom(base_mib << 20), layer_type)
entries = []
for r in range(repos):
    shared = store(os.urandom(repo_mib << 20), layer_type)
    for t in range(tags):
        top = store(os.urandom(top_kib << 10), layer_type)
        layers = [base, shared, top]
        config = {"architecture": "amd64", "os": "linux", "config": {},
                  "rootfs": {"type": "layers", "diff_ids": [l["digest"] for l in layers]}}
        config_desc = store(json.dumps(config, sort_keys=True).encode(), "application/vnd.oci.image.config.v1+json")
        manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": config_desc, "layers": layers}
        desc = store(json.dumps(manifest, sort_keys=True).encode(), "application/vnd.oci.image.manifest.v1+json")
        desc["annotations"] = {"org.opencontainers.image.ref.name": f"bench/r{r}:v1.{t}.0"}
        entries.append(desc)
with open(os.path.join(out, "index.json"), "w") as f:
    json.dump({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries}, f)
with open(os.path.join(out, "oci-layout"), "w") as f:
    json.dump({"imageLayoutVersion": "1.0.0"}, f)
