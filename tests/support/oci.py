"""A tiny OCI image layout written in pure Python, with deterministic digests.

The image has one gzip-compressed tar layer holding one text file. Every byte is fixed (tar
mtime/uid/gid zero, gzip mtime zero and no file name, JSON with sorted keys), so the same content
always gives the same manifest digest: tests can compare the digest a cache serves with the one
built here, and a second layout built elsewhere with the same content is the same image.

skopeo reads the layout as ``oci:<dir>:<ref>`` (see :func:`tests.support.skopeo.push`).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_ANNOTATION = "org.opencontainers.image.ref.name"
DEFAULT_FILENAME = "hello.txt"


@dataclass(frozen=True)
class Blob:
    """A content-addressed blob: its bytes and OCI descriptor fields."""

    data: bytes
    media_type: str

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.data).hexdigest()

    @property
    def size(self) -> int:
        return len(self.data)

    def descriptor(self, annotations: dict[str, str] | None = None) -> dict[str, Any]:
        desc: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
        }
        if annotations:
            desc["annotations"] = annotations
        return desc


@dataclass(frozen=True)
class Image:
    """The blobs of one image: manifest, config and its single layer."""

    manifest: Blob
    config: Blob
    layer: Blob

    @property
    def digest(self) -> str:
        """The manifest digest, which is what a registry reports as the image digest."""
        return self.manifest.digest


def _canonical_json(payload: Any) -> bytes:
    # Sorted keys and no whitespace: the digest must not depend on dict order.
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


def layer_tar(content: str, filename: str = DEFAULT_FILENAME) -> bytes:
    """An uncompressed tar with one regular file, with every metadata field fixed."""
    data = content.encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo(filename)
        info.size = len(data)
        info.mode = 0o644
        info.mtime = 0
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _gzip(data: bytes) -> bytes:
    buf = io.BytesIO()
    # mtime=0 and an empty file name keep the gzip header (and so the digest) stable.
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=6) as gz:
        gz.write(data)
    return buf.getvalue()


def make_image(content: str, filename: str = DEFAULT_FILENAME) -> Image:
    """The blobs of a one-layer linux/amd64 image whose file ``filename`` holds ``content``."""
    tar = layer_tar(content, filename)
    layer = Blob(_gzip(tar), MEDIA_LAYER)
    config = Blob(
        _canonical_json(
            {
                "architecture": "amd64",
                "os": "linux",
                "config": {"Cmd": ["/bin/true"]},
                "rootfs": {
                    "type": "layers",
                    "diff_ids": ["sha256:" + hashlib.sha256(tar).hexdigest()],
                },
                "history": [{"created_by": "tests/support/oci.py"}],
            }
        ),
        MEDIA_CONFIG,
    )
    manifest = Blob(
        _canonical_json(
            {
                "schemaVersion": 2,
                "mediaType": MEDIA_MANIFEST,
                "config": config.descriptor(),
                "layers": [layer.descriptor()],
            }
        ),
        MEDIA_MANIFEST,
    )
    return Image(manifest=manifest, config=config, layer=layer)


def build_image(
    directory: Path | str, ref: str, content: str, filename: str = DEFAULT_FILENAME
) -> str:
    """Write (or extend) an OCI layout in ``directory`` with an image tagged ``ref``; return
    its manifest digest.

    ``ref`` is the layout's ref name (``oci:<directory>:<ref>`` for skopeo). Calling it again on the
    same directory with another ref adds that image; the same ref is replaced. The returned value is
    the manifest digest (``sha256:...``), identical for identical ``content`` and ``filename``.
    """
    root = Path(directory)
    blobs_dir = root / "blobs" / "sha256"
    blobs_dir.mkdir(parents=True, exist_ok=True)
    image = make_image(content, filename)
    for blob in (image.layer, image.config, image.manifest):
        (blobs_dir / blob.digest.split(":", 1)[1]).write_bytes(blob.data)
    (root / "oci-layout").write_bytes(_canonical_json({"imageLayoutVersion": "1.0.0"}))

    index_path = root / "index.json"
    manifests: list[dict[str, Any]] = []
    if index_path.exists():
        existing = json.loads(index_path.read_text())
        manifests = [
            m
            for m in existing.get("manifests", [])
            if m.get("annotations", {}).get(REF_ANNOTATION) != ref
        ]
    manifests.append(image.manifest.descriptor({REF_ANNOTATION: ref}))
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": manifests,
    }
    index_path.write_bytes(_canonical_json(index))
    return image.digest


def read_layer_file(layer_gz: bytes, filename: str = DEFAULT_FILENAME) -> str:
    """The text of ``filename`` inside a gzip tar layer: checks what a pull really delivered."""
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layer_gz)), mode="r") as tar:
        member = tar.extractfile(filename)
        if member is None:
            raise FileNotFoundError(filename)
        return member.read().decode()


@dataclass(frozen=True)
class LayoutImage:
    """An image written into an OCI layout by :func:`build_layout_image`."""

    layout: Path  # the layout directory (``oci:<layout>:<ref>``)
    ref: str  # the ref name inside the layout
    content: str  # the text of the image's single file
    filename: str  # that file's name inside the layer
    digest: str  # manifest digest
    config_digest: str
    layer_digest: str

    @property
    def blobs(self) -> tuple[str, str]:
        """Digests of the blobs a pull fetches besides the manifest (config, layer)."""
        return (self.config_digest, self.layer_digest)

    @property
    def oci_ref(self) -> str:
        """The skopeo source reference ``oci:<layout>:<ref>``."""
        return f"oci:{self.layout}:{self.ref}"


def build_layout_image(
    directory: Path | str, ref: str, content: str, filename: str = DEFAULT_FILENAME
) -> LayoutImage:
    """:func:`build_image`, returning every digest a test may want to check."""
    digest = build_image(directory, ref, content, filename)
    image = make_image(content, filename)
    return LayoutImage(
        layout=Path(directory),
        ref=ref,
        content=content,
        filename=filename,
        digest=digest,
        config_digest=image.config.digest,
        layer_digest=image.layer.digest,
    )


def read_dir_image(directory: Path | str, filename: str = DEFAULT_FILENAME) -> str:
    """The text of ``filename`` in an image that skopeo copied to ``dir:<directory>``.

    The ``dir:`` transport stores ``manifest.json`` and each blob under its bare hex digest.
    """
    root = Path(directory)
    manifest = json.loads((root / "manifest.json").read_text())
    layer_hex = manifest["layers"][0]["digest"].split(":", 1)[1]
    return read_layer_file((root / layer_hex).read_bytes(), filename)
