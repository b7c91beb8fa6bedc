#!/usr/bin/env python3
"""delta.py: the size of a delta bundle (issue 12), in bytes, not seconds.

Builds a "medium set" of images sharing base layers, as v1 and v2, where v2 rebuilt
the application layer of a couple of images, then runs the air-gap loop with the
stowage binary:

    far side:   stowage import v1.tar;            stowage inventory -o inventory.json
    near side:  stowage import v1.tar v2.tar;     stowage export --exclude-present inventory.json -o delta.tar V2-REFS
                                                  stowage export -o full.tar V2-REFS
    far side:   stowage import delta.tar;         stowage verify

and prints the bytes of the full export and of the delta, and their ratio. Layers
are seeded random bytes (incompressible, and the same on every run), so the
figures are reproducible.

Usage: scripts/bench.d/delta.py [--stowage BIN] [--dir DIR] [--keep]
  --stowage BIN  the stowage binary (default: .build/release/stowage, else .build/debug/stowage)
  --dir DIR      work directory (default: a fresh one under /var/tmp, removed at the end)
  --keep         keep the work directory
Environment: DELTA_IMAGES (10), DELTA_CHANGED (2), DELTA_APP_MIB (2), DELTA_DEPS_MIB (30),
             DELTA_RUNTIME_MIB (40), DELTA_BASE_MIB (80): the shape of the set.
"""
import argparse
import hashlib
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tarfile
import tempfile

MIB = 1 << 20
LAYER = "application/vnd.oci.image.layer.v1.tar"
CONFIG = "application/vnd.oci.image.config.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def env_int(name, default):
    return int(os.environ.get(name, default))


def blob(data):
    return {"digest": "sha256:" + hashlib.sha256(data).hexdigest(), "size": len(data)}


def random_bytes(seed, size):
    return random.Random(seed).randbytes(size)


class ArchiveWriter:
    """An oci-archive written as a stream: blobs once each, then index.json and oci-layout."""

    def __init__(self, path):
        self.tar = tarfile.open(path, "w", format=tarfile.PAX_FORMAT)
        self.seen = set()
        self.entries = []

    def add(self, data):
        descriptor = blob(data)
        if descriptor["digest"] not in self.seen:
            self.seen.add(descriptor["digest"])
            info = tarfile.TarInfo("blobs/sha256/" + descriptor["digest"][7:])
            info.size = len(data)
            self.tar.addfile(info, io.BytesIO(data))
        return descriptor

    def add_image(self, name, layers):
        layer_descriptors = [dict(mediaType=LAYER, **self.add(data)) for data in layers]
        config = json.dumps({
            "architecture": "amd64", "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [d["digest"] for d in layer_descriptors]},
        }, sort_keys=True).encode()
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": MANIFEST,
            "config": dict(mediaType=CONFIG, **self.add(config)), "layers": layer_descriptors,
        }, sort_keys=True).encode()
        entry = dict(mediaType=MANIFEST, **self.add(manifest))
        entry["annotations"] = {"org.opencontainers.image.ref.name": name}
        self.entries.append(entry)

    def close(self):
        for name, data in [
            ("index.json", json.dumps({"schemaVersion": 2, "manifests": self.entries}).encode()),
            ("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
        ]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            self.tar.addfile(info, io.BytesIO(data))
        self.tar.close()


def make_set(path, version, shape, changed):
    """Writes the set's archive for `version`; images below `changed` got a new app layer in v2."""
    writer = ArchiveWriter(path)
    base = random_bytes("base", shape["base"])
    runtimes = [random_bytes(f"runtime-{r}", shape["runtime"]) for r in range(2)]
    for i in range(shape["images"]):
        deps = random_bytes(f"deps-{i}", shape["deps"])
        app_build = 2 if version == 2 and i < changed else 1
        app = random_bytes(f"app-{i}-build-{app_build}", shape["app"])
        writer.add_image(f"bench/app-{i:02d}:v{version}", [base, runtimes[i % 2], deps, app])
    writer.close()


def run(stowage, *arguments):
    result = subprocess.run([stowage, *arguments], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"stowage {' '.join(arguments)} failed: {result.stderr.strip()}")
    return result.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stowage")
    parser.add_argument("--dir")
    parser.add_argument("--keep", action="store_true")
    options = parser.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    stowage = options.stowage or next(
        (p for p in (f"{root}/.build/release/stowage", f"{root}/.build/debug/stowage") if os.access(p, os.X_OK)), None)
    if not stowage:
        sys.exit("no stowage binary: build it, or pass --stowage BIN")
    shape = {
        "images": env_int("DELTA_IMAGES", 10), "base": env_int("DELTA_BASE_MIB", 80) * MIB,
        "runtime": env_int("DELTA_RUNTIME_MIB", 40) * MIB, "deps": env_int("DELTA_DEPS_MIB", 30) * MIB,
        "app": env_int("DELTA_APP_MIB", 2) * MIB,
    }
    changed = env_int("DELTA_CHANGED", 2)
    work = options.dir or tempfile.mkdtemp(prefix="stowage-delta-", dir="/var/tmp")
    os.makedirs(work, exist_ok=True)
    try:
        v1, v2 = f"{work}/v1.tar", f"{work}/v2.tar"
        make_set(v1, 1, shape, changed)
        make_set(v2, 2, shape, changed)
        far, near = f"{work}/far", f"{work}/near"
        for layout in (far, near):
            shutil.rmtree(layout, ignore_errors=True)
        run(stowage, "import", "--layout", far, v1)
        run(stowage, "import", "--layout", near, v1, v2)
        inventory = f"{work}/inventory.json"
        run(stowage, "inventory", "--layout", far, "-o", inventory)
        refs = [f"bench/app-{i:02d}:v2" for i in range(shape["images"])]
        delta, again, full = f"{work}/delta.tar", f"{work}/delta-again.tar", f"{work}/full.tar"
        d = json.loads(run(stowage, "export", "--layout", near, "--exclude-present", inventory, "-o", delta, "--json", *refs))
        run(stowage, "export", "--layout", near, "--exclude-present", inventory, "-o", again, *refs)
        f = json.loads(run(stowage, "export", "--layout", near, "-o", full, "--json", *refs))
        identical = open(delta, "rb").read() == open(again, "rb").read()
        plan = json.loads(run(stowage, "import", "--layout", far, "--dry-run", "--json", delta))[0]
        run(stowage, "import", "--layout", far, delta)
        run(stowage, "verify", "--layout", far)
        same = run(stowage, "ls", "--layout", far, "--json") == run(stowage, "ls", "--layout", near, "--json")

        v1_blobs = json.load(open(inventory))["blobs"]
        delta_file, full_file = os.path.getsize(delta), os.path.getsize(full)
        print(f"set: {shape['images']} images, each base {shape['base'] // MIB} MiB (shared by all) + runtime "
              f"{shape['runtime'] // MIB} MiB (one of 2) + deps {shape['deps'] // MIB} MiB + app {shape['app'] // MIB} MiB; "
              f"v2 rebuilt the app layer of {changed}")
        print(f"v1 in the far layout: {len(v1_blobs)} blobs, {sum(b['size'] for b in v1_blobs)} bytes; "
              f"inventory {os.path.getsize(inventory)} bytes")
        print(f"full export of v2:  {f['blobs']} blobs, {f['bytes']} bytes of blobs, archive {full_file} bytes")
        print(f"delta export of v2: {d['blobs']} blobs, {d['bytes']} bytes of blobs, archive {delta_file} bytes; "
              f"left out {d['blobsLeftOut']} blobs, {d['bytesLeftOut']} bytes")
        print(f"delta / full: {100 * delta_file / full_file:.3f} % of the archive bytes "
              f"({100 * d['bytes'] / f['bytes']:.3f} % of the blob bytes)")
        print(f"delta byte-identical when run twice: {'yes' if identical else 'NO'}")
        print(f"import --dry-run on the far side: {plan['blobsAdded']} blobs to add, {plan['bytesAdded']} bytes, "
              f"{len(plan['missing'])} missing")
        print(f"far side after import: verify passes; same names and digests as the near side: {'yes' if same else 'NO'}")
        if not identical or not same or delta_file * 100 >= full_file:
            sys.exit(1)
    finally:
        if not options.keep and not options.dir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
