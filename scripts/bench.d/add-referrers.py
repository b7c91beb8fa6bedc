#!/usr/bin/env python3
"""add-referrers.py LAYOUT REPO REF... -- give each image REF of an OCI layout a cosign-format
signature (tag REPO:sha256-<hex>.sig: a simple-signing payload naming the image digest, ECDSA
P-256 signed with a fresh key when python3-cryptography is there) and an SPDX SBOM (an OCI 1.1
artifact whose subject is the image, stored as an index.json entry without a name). For an
index REF, each of its manifests gets them too. Part of scripts/bench-referrers."""
import base64, hashlib, json, os, sys

layout, repo, refs = sys.argv[1], sys.argv[2], sys.argv[3:]
blobs = os.path.join(layout, "blobs", "sha256")
try:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    key = ec.generate_private_key(ec.SECP256R1())
    sign = lambda data: key.sign(data, ec.ECDSA(hashes.SHA256()))
except ImportError:  # the bench measures transport, not cryptography
    sign = lambda data: hashlib.sha256(b"unsigned" + data).digest()

def store(data):
    hexd = hashlib.sha256(data).hexdigest()
    path = os.path.join(blobs, hexd)
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.write(data)
    return {"digest": "sha256:" + hexd, "size": len(data)}

def dumps(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()

with open(os.path.join(layout, "index.json")) as f:
    index = json.load(f)
subjects = []
for ref in refs:
    entry = next(e for e in index["manifests"] if e.get("annotations", {}).get("org.opencontainers.image.ref.name") == ref)
    subjects.append({"mediaType": entry["mediaType"], "digest": entry["digest"], "size": entry["size"]})
    if entry["mediaType"].endswith("index.v1+json") or entry["mediaType"].endswith("list.v2+json"):
        with open(os.path.join(blobs, entry["digest"].split(":")[1])) as f:
            for child in json.load(f)["manifests"]:
                subjects.append({"mediaType": child["mediaType"], "digest": child["digest"], "size": child["size"]})

for n, subject in enumerate(subjects):
    payload = dumps({"critical": {"identity": {"docker-reference": repo}, "image": {"docker-manifest-digest": subject["digest"]},
                                  "type": "cosign container image signature"}, "optional": None})
    layer = dict(store(payload), mediaType="application/vnd.dev.cosign.simplesigning.v1+json",
                 annotations={"dev.cosignproject.cosign/signature": base64.b64encode(sign(payload)).decode()})
    config = dict(store(dumps({"architecture": "", "os": "", "config": {},
                               "rootfs": {"type": "layers", "diff_ids": [layer["digest"]]}})),
                  mediaType="application/vnd.oci.image.config.v1+json")
    sig = dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": config, "layers": [layer]})
    tag = "sha256-" + subject["digest"].split(":")[1] + ".sig"
    index["manifests"] = [e for e in index["manifests"] if e.get("annotations", {}).get("org.opencontainers.image.ref.name") != f"{repo}:{tag}"]
    index["manifests"].append(dict(store(sig), mediaType="application/vnd.oci.image.manifest.v1+json",
                                   annotations={"org.opencontainers.image.ref.name": f"{repo}:{tag}"}))
    spdx = dumps({"spdxVersion": "SPDX-2.3", "name": f"bench-{n}", "packages": []})
    empty = dict(store(b"{}"), mediaType="application/vnd.oci.empty.v1+json")
    sbom = dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                  "artifactType": "application/spdx+json", "config": empty,
                  "layers": [dict(store(spdx), mediaType="application/spdx+json")], "subject": subject})
    d = dict(store(sbom), mediaType="application/vnd.oci.image.manifest.v1+json")
    if not any(e["digest"] == d["digest"] for e in index["manifests"]):
        index["manifests"].append(d)

tmp = os.path.join(layout, "index.json.tmp")
with open(tmp, "w") as f:
    json.dump(index, f)
os.rename(tmp, os.path.join(layout, "index.json"))
print(len(subjects))
