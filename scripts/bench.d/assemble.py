#!/usr/bin/env python3
"""assemble.py DIR ARCH REF LAYER.tar... -- turn layer tars into an OCI image layout in DIR:
blobs named by digest, a config with os/architecture/rootfs.diff_ids, a manifest,
index.json (one entry named REF) and oci-layout. Layer files are moved, not copied.
Part of scripts/bench."""
import hashlib, json, os, sys
out, arch, ref, layers = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
blobs = os.path.join(out, "blobs", "sha256")
os.makedirs(blobs, exist_ok=True)

def store(data):
    hexd = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, hexd), "wb") as f:
        f.write(data)
    return {"digest": "sha256:" + hexd, "size": len(data)}

descs = []
for path in layers:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    hexd = h.hexdigest()
    size = os.path.getsize(path)
    os.rename(path, os.path.join(blobs, hexd))
    descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar",
                  "digest": "sha256:" + hexd, "size": size})

config = {"created": "2024-01-01T00:00:00Z", "architecture": arch, "os": "linux",
          "config": {}, "rootfs": {"type": "layers", "diff_ids": [d["digest"] for d in descs]},
          "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "scripts/bench"} for _ in descs]}
cfg = store(json.dumps(config, separators=(",", ":")).encode())
manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **cfg},
            "layers": descs}
man = store(json.dumps(manifest, separators=(",", ":")).encode())
index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
         "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", **man,
                        "platform": {"architecture": arch, "os": "linux"},
                        "annotations": {"org.opencontainers.image.ref.name": ref}}]}
with open(os.path.join(out, "index.json"), "w") as f:
    json.dump(index, f, separators=(",", ":"))
with open(os.path.join(out, "oci-layout"), "w") as f:
    f.write('{"imageLayoutVersion":"1.0.0"}')
