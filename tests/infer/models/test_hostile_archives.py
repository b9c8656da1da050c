"""Issue 30, item 3: zip bombs in torch archives (item 4, the words of a refusal: tests/export/test_hostile_export.py).

A 7 MB TorchScript file whose `extra/imgcheck.json` inflates to 1 GiB, and a 7 MB checkpoint whose `data.pkl`
does, are refused from their zip index alone, before anything is inflated: every command and the API run under a
memory ceiling 1.5 GiB above the process's own size and end with the one-line refusal, never MemoryError. The bombs
are real (the JSON bomb is valid JSON, the pickle bomb a valid checkpoint followed by padding), built here in about
a second without compressing a byte: a run of one byte in deflate is a repeated 13-bit copy (zlib would make them
1 MB; fixed codes are simpler to write)."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

from imgcheck.infer.errors import ModelFileError
from imgcheck.infer.meta import TORCHSCRIPT_EXTRA_FILE
from imgcheck.infer.models.model_file import ModelFile, load_checkpoint_dict
from imgcheck.infer.models.safety import ARCHIVE_RATIO, ARCHIVE_SLACK, META_RECORD_LIMIT

GIB = 1 << 30
CEILING = 3 << 29  # 1.5 GiB above the process's size once its heavy modules are imported
BOMB = "zip bomb"


def _code(code: int, length: int) -> list[int]:
    """A Huffman code as deflate emits it: most significant bit first."""
    return [(code >> (length - 1 - i)) & 1 for i in range(length)]


def _literal(byte: int) -> list[int]:
    """The fixed-Huffman code of a literal byte (RFC 1951, 3.2.6)."""
    return _code(0x30 + byte, 8) if byte < 144 else _code(0x190 + byte - 144, 9)


_COPY_258 = np.array(_code(0xC5, 8) + [0] * 5, np.uint8)  # length 258 (symbol 285), distance 1 (code 0)


def deflate_run(prefix: bytes, fill: int, total: int) -> bytes:
    """A raw deflate stream of `prefix` followed by the byte `fill` up to `total` bytes: one fixed-Huffman block
    whose run is copies of 258 bytes at distance 1 (13 bits each), so 1 GiB is 6.8 MB, made by numpy in a blink."""
    copies, rest = divmod(total - len(prefix) - 1, 258)
    head = [1, 1, 0] + [bit for byte in prefix + bytes([fill]) for bit in _literal(byte)]  # BFINAL, BTYPE=01
    tail = _literal(fill) * rest + [0] * 7  # the remainder as literals, then end-of-block (256)
    bits = np.concatenate([np.array(head, np.uint8), np.tile(_COPY_258, copies), np.array(tail, np.uint8)])
    return np.packbits(bits, bitorder="little").tobytes()


def write_zip(path: Path, members: list[tuple[str, bytes, int, int, int]]) -> Path:
    """A zip of (name, payload, method, crc, uncompressed size) members, written as is (zipfile cannot store a
    deflate stream it did not make)."""
    local, central = bytearray(), bytearray()
    for name, payload, method, crc, size in members:
        encoded = name.encode()
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0x21, crc, len(payload), size,
                               len(encoded), 0, 0, 0, 0, 0, len(local)) + encoded
        local += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, crc, len(payload), size,
                             len(encoded), 0) + encoded + payload
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central), len(local), 0)
    path.write_bytes(bytes(local + central + end))
    return path


def rebuild_with_bomb(source: Path, target: Path, member_suffix: str, fill: int, total: int = GIB) -> Path:
    """`source` (a torch zip) with its member ending in `member_suffix` followed by `fill` bytes up to `total`
    bytes, deflated; every other member stored as it was."""
    members = []
    with zipfile.ZipFile(source) as archive:
        for info in archive.infolist():
            data = archive.read(info)
            if info.filename.endswith(member_suffix):
                crc = _crc_continue(data, fill, total - len(data))
                members.append((info.filename, deflate_run(data, fill, total), zipfile.ZIP_DEFLATED, crc, total))
            else:
                members.append((info.filename, data, zipfile.ZIP_STORED, zlib.crc32(data), len(data)))
    assert any(m[0].endswith(member_suffix) for m in members)
    return write_zip(target, members)


def _crc_continue(prefix: bytes, fill: int, count: int) -> int:
    """crc32 of `prefix` followed by `count` bytes of `fill`, in 16 MiB blocks."""
    crc, block = zlib.crc32(prefix), bytes([fill]) * (16 << 20)
    for _ in range(count // len(block)):
        crc = zlib.crc32(block, crc)
    return zlib.crc32(block[: count % len(block)], crc)


@pytest.fixture(scope="module")
def bombs(tiny_files, tmp_path_factory) -> dict[str, Path]:
    """A TorchScript file whose imgcheck.json (valid JSON: the ModelMeta, then spaces) inflates to 1 GiB, and a
    checkpoint whose data.pkl (the real pickle, then zeros that unpickling never reaches) does."""
    folder = tmp_path_factory.mktemp("bombs")
    return {
        "torchscript": rebuild_with_bomb(tiny_files["torchscript"], folder / "bomb_ts.pt",
                                         f"/extra/{TORCHSCRIPT_EXTRA_FILE}", ord(" ")),
        "checkpoint": rebuild_with_bomb(tiny_files["checkpoint"], folder / "bomb_ckpt.pt", "/data.pkl", 0),
    }


def test_the_deflate_run_is_what_zlib_inflates():
    stream = deflate_run(b'{"a": 1}', ord(" "), 100_003)
    assert zlib.decompress(stream, -15) == b'{"a": 1}' + b" " * (100_003 - 8)


def test_the_bombs_are_small_files_declaring_a_gibibyte(bombs):
    for path in bombs.values():
        assert path.stat().st_size < 8 << 20
        with zipfile.ZipFile(path) as archive:
            assert max(info.file_size for info in archive.infolist()) == GIB


# Runs in a child process: import the heavy modules the commands would import, then cap the address space at
# CEILING above the process's own size, then run each command (or API call) and report its exit code and stderr.
_CAPPED = r"""
import contextlib, importlib, io, json, resource, sys, traceback

for name in filter(None, sys.argv[2].split(",")):
    importlib.import_module(name)
with open("/proc/self/status") as fh:
    size = next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmSize:"))
resource.setrlimit(resource.RLIMIT_AS, (size + int(sys.argv[1]), size + int(sys.argv[1])))

from imgcheck.infer.cli.root import cli

results = []
for kind, payload in json.loads(sys.argv[3]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            if kind == "cli":
                cli(payload, prog_name="imgcheck")
            else:
                exec(payload, {})
            code = 0
        except SystemExit as exc:
            code = exc.code
        except BaseException as exc:  # MemoryError included: the ceiling was reached
            code = f"{type(exc).__name__}: {str(exc)[:300]}"
    results.append({"run": payload, "code": code, "stderr": err.getvalue()})
print(json.dumps(results))
"""


def run_capped(runs: list[tuple[str, object]], preload: tuple[str, ...] = (), ceiling: int = CEILING) -> list[dict]:
    """Each (kind, payload) run in one child process under the memory ceiling: kind "cli" with imgcheck's
    arguments, or "py" with Python code; returns [{run, code, stderr}]."""
    done = subprocess.run([sys.executable, "-c", _CAPPED, str(ceiling), ",".join(preload), json.dumps(runs)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _assert_refused(result: dict, path: Path, code: object = 1) -> None:
    assert result["code"] == code, result
    assert BOMB in result["stderr"] and str(path) in result["stderr"], result
    assert "MemoryError" not in result["stderr"] and "Traceback" not in result["stderr"], result
    assert len([line for line in result["stderr"].splitlines() if line.startswith("Error")]) <= 1, result


def _labeled(root: Path) -> Path:
    from synthetic_data import gray_image

    gray_image(root / "REAL" / "r.png", 40)
    gray_image(root / "FAKE" / "f.png", 200)
    return root


def test_the_ceiling_bites_a_reader_without_the_check(bombs, tiny_files):
    """Proof that the ceiling is low enough to matter: reading the JSON bomb the way imgcheck used to (zipfile,
    then json) fails with MemoryError under it, and the untouched model still opens under it."""
    ts = bombs["torchscript"]
    with zipfile.ZipFile(ts) as archive:
        member = next(n for n in archive.namelist() if n.endswith(TORCHSCRIPT_EXTRA_FILE))
    old_way = f"import json, zipfile\njson.loads(zipfile.ZipFile({str(ts)!r}).read({member!r}))"
    old, fine = run_capped([("py", old_way), ("cli", ["info", str(tiny_files["torchscript"])])])
    assert str(old["code"]).startswith("MemoryError"), old
    assert fine["code"] == 0, fine


def test_a_torchscript_zip_bomb_is_refused_by_every_command_and_the_api(bombs, tmp_path):
    ts = bombs["torchscript"]
    images = _labeled(tmp_path / "imgs")
    runs = [
        ("cli", ["info", str(ts)]),
        ("cli", ["info", "--json", str(ts)]),
        ("cli", ["scan", str(images), "--model", str(ts), "--out", str(tmp_path / "v.csv"), "--workers", "0"]),
        ("cli", ["bench", str(ts), "--synthetic", "4", "--workers", "0"]),
        ("cli", ["calibrate", str(ts), str(images), "--workers", "0"]),
        ("py", f"from imgcheck import Detector\nDetector({str(ts)!r}, device='cpu')"),
    ]
    results = run_capped(runs)
    for result in results[:-1]:
        _assert_refused(result, ts)
    assert results[-1]["code"].startswith("ModelFileError") and BOMB in results[-1]["code"], results[-1]
    assert "metadata record" in results[0]["stderr"]
    assert not (tmp_path / "v.csv").exists()


def test_a_checkpoint_zip_bomb_is_refused_by_every_command_and_the_api(bombs, tmp_path):
    from synthetic_data import make_dataset

    ckpt = bombs["checkpoint"]
    images = _labeled(tmp_path / "imgs")
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"arch": "cnn", "data": str(tmp_path / "nowhere"), "out": str(run)}))
    os.symlink(ckpt, run / "last.pt")
    data = make_dataset(tmp_path / "data", train_per_group=1, test_per_group=1, categories=2)
    runs = [
        ("cli", ["info", str(ckpt)]),
        ("cli", ["scan", str(images), "--model", str(ckpt), "--out", str(tmp_path / "v.csv"), "--workers", "0"]),
        ("cli", ["export", str(ckpt), "--out", str(tmp_path / "exported")]),
        ("cli", ["train", "--resume", str(run), "--quiet"]),
        ("cli", ["train", "--arch", "cnn", "--data", str(data), "--out", str(tmp_path / "t"), "--weights-file",
                 str(ckpt), "--quiet"]),
        ("py", f"from imgcheck import Detector\nDetector({str(ckpt)!r}, device='cpu')"),
        ("py", f"from imgcheck.trainer.checkpoint import load_checkpoint\nload_checkpoint({str(ckpt)!r})"),
    ]
    results = run_capped(runs, preload=("torch",))
    for result, named in zip(results[:5], [ckpt, ckpt, ckpt, run / "last.pt", ckpt]):
        _assert_refused(result, named)
    for result in results[5:]:
        assert result["code"].startswith("ModelFileError") and BOMB in result["code"], result
    assert "declares 1,024.0 MiB uncompressed" in results[0]["stderr"]
    assert not (tmp_path / "v.csv").exists() and not (tmp_path / "exported").exists()
    assert not (tmp_path / "t" / "last.pt").exists()


def test_real_archives_pass_the_check(tiny_files):
    """The tiny model's TorchScript and checkpoint files, as torch wrote them, are far inside the limits."""
    for kind in ("torchscript", "checkpoint"):
        path = tiny_files[kind]
        with zipfile.ZipFile(path) as archive:
            total = sum(info.file_size for info in archive.infolist())
        assert total <= ARCHIVE_RATIO * path.stat().st_size + ARCHIVE_SLACK
        assert ModelFile.open(path).meta.arch == "tiny"


def test_the_limits_are_the_documented_ones_and_refuse_just_past_them(tiny_files, tmp_path):
    """A metadata record one byte over META_RECORD_LIMIT is refused; at the limit it is read (and then judged as
    a ModelMeta); a total just over ARCHIVE_RATIO x size + ARCHIVE_SLACK is refused."""
    assert META_RECORD_LIMIT == 4 << 20 and ARCHIVE_RATIO == 4 and ARCHIVE_SLACK == 16 << 20
    suffix = f"/extra/{TORCHSCRIPT_EXTRA_FILE}"
    at_limit = rebuild_with_bomb(tiny_files["torchscript"], tmp_path / "at.pt", suffix, ord(" "), META_RECORD_LIMIT)
    assert ModelFile.open(at_limit).meta.arch == "tiny"  # valid JSON padded with spaces
    over = rebuild_with_bomb(tiny_files["torchscript"], tmp_path / "over.pt", suffix, ord(" "), META_RECORD_LIMIT + 1)
    with pytest.raises(ModelFileError, match="metadata record .* declares 4.0 MiB"):
        ModelFile.open(over)
    padded = rebuild_with_bomb(tiny_files["checkpoint"], tmp_path / "padded.pt", "/data.pkl", 0, 12 << 20)
    assert ModelFile.open(padded).meta.arch == "tiny"  # 12 MiB declared in a small file: inside the slack
    big = rebuild_with_bomb(tiny_files["checkpoint"], tmp_path / "big.pt", "/data.pkl", 0, 64 << 20)
    assert ARCHIVE_RATIO * big.stat().st_size + ARCHIVE_SLACK < 64 << 20
    with pytest.raises(ModelFileError, match=BOMB):
        load_checkpoint_dict(big)
