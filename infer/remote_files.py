"""Images named by URI (`s3://`, `gs://`, `file://`): what a Ray scan reads, and what its report's thumbnails read
back, through pyarrow's filesystems (imported only when a URI is read)."""

from __future__ import annotations

from typing import Any

from imgcheck.infer.errors import ImageDecodeError, ImgcheckError

URI_SCHEMES = ("s3", "gs", "gcs", "file")
_filesystems: dict[tuple[str, str], Any] = {}  # one pyarrow filesystem per (scheme, bucket), per process


def is_uri(path: str) -> bool:
    """True for `scheme://...` inputs; those in URI_SCHEMES are listed and read through pyarrow."""
    scheme, sep, _ = path.partition("://")
    return bool(sep) and scheme.replace("+", "").isalnum()


def resolve_uri(uri: str) -> tuple[Any, str]:
    """(pyarrow filesystem, path in it) of an `s3://bucket/key`, `gs://bucket/key` or `file:///path` URI.

    The text after the bucket is taken as it is, never URL-parsed: object keys and file names with spaces, `#`
    or `%` (CIFAKE's `0 (10).jpg`) stay exactly what they are. One filesystem is made per bucket and reused."""
    scheme, _, rest = uri.partition("://")
    if scheme.lower() not in URI_SCHEMES:
        raise ImgcheckError(f"cannot read {uri}: --engine ray reads local paths and {', '.join(URI_SCHEMES)} URIs")
    bucket = "" if scheme.lower() == "file" else rest.split("/", 1)[0]
    key = (scheme.lower(), bucket)
    if key not in _filesystems:
        from pyarrow import fs as pafs

        try:
            _filesystems[key] = pafs.FileSystem.from_uri(f"{scheme}://{bucket or '/'}")[0]
        except (OSError, ValueError) as exc:
            raise ImgcheckError(f"cannot reach {scheme}://{bucket}: {' '.join(str(exc).split())}") from None
    return _filesystems[key], rest


def read_uri(uri: str) -> bytes:
    """The bytes of an `s3://`, `gs://` or `file://` object; ImageDecodeError with a one-line reason if it cannot be
    read."""
    try:
        filesystem, path = resolve_uri(uri)
        with filesystem.open_input_file(path) as stream:
            return stream.readall()
    except ImgcheckError as exc:
        raise ImageDecodeError(exc.message) from None
    except FileNotFoundError:
        raise ImageDecodeError("file not found (deleted or a broken link?)") from None
    except (OSError, ValueError) as exc:
        raise ImageDecodeError(f"cannot read: {' '.join(str(exc).split())}") from None
