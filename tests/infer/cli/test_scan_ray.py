"""`imgcheck scan --engine ray`: the same rows as the local engine, on a local Ray instance with 2 CPUs."""

import os
import sys

import numpy as np
import pytest
from hostile_corpus import build_corpus
from PIL import Image

from imgcheck.infer.cli.root import cli
from imgcheck.infer.remote_files import is_uri


def _mixed_folder(root):
    """Good images in nested folders, with the hostile corpus mixed in."""
    for i in range(40):
        path = root / ("REAL" if i % 2 else "FAKE") / f"sub{i % 3}" / f"img_{i:03d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.random.default_rng(i).integers(0, 256, (20, 28, 3), dtype=np.uint8)).save(path)
    build_corpus(root / "hostile")
    return root


@pytest.mark.slow
def test_ray_engine_writes_the_local_engines_csv_row_for_row(runner, tiny_files, tmp_path, local_ray):
    folder = _mixed_folder(tmp_path / "imgs")
    listed = tmp_path / "list.txt"  # a listed file that is gone: an ERROR row
    listed.write_text(f"{tmp_path / 'missing.png'}\n")
    common = ["scan", str(folder), "--files-from", str(listed), "--model", str(tiny_files["onnx"]),
              "--batch-size", "8", "--quiet"]
    local, ray_csv = tmp_path / "local.csv", tmp_path / "ray.csv"
    assert runner.invoke(cli, [*common, "--out", str(local), "--workers", "2"]).exit_code == 3
    result = runner.invoke(cli, [*common, "--out", str(ray_csv), "--engine", "ray", "--num-workers", "2"])
    assert result.exit_code == 3, result.output
    assert ray_csv.read_bytes() == local.read_bytes()
    text = local.read_text(errors="surrogateescape")
    assert text.count(",ERROR,") >= 10 and text.count(",FAKE,") + text.count(",REAL,") >= 50
    import json

    side = json.loads((tmp_path / "ray.csv.json").read_text())
    assert side["engine"] == "ray" and side["provider"] == "CPUExecutionProvider"
    assert side["counts"] == json.loads((tmp_path / "local.csv.json").read_text())["counts"]
    # --workers caps the decode tasks; the default actor count leaves them a CPU of the two
    capped = tmp_path / "capped.csv"
    assert runner.invoke(cli, [*common, "--out", str(capped), "--engine", "ray", "--workers", "1"]).exit_code == 3
    assert capped.read_bytes() == local.read_bytes()
    crowded = runner.invoke(cli, [*common, "--out", str(capped), "--force", "--engine", "ray", "--workers", "1",
                                  "--num-workers", "2"])
    assert crowded.exit_code == 1 and "need 3 CPUs, and the Ray cluster has 2" in crowded.stderr


@pytest.mark.slow
def test_ray_engine_resumes_gates_and_reads_uris(runner, brightness_model, tmp_path, local_ray):
    folder = _mixed_folder(tmp_path / "imgs")
    common = ["--model", str(brightness_model), "--batch-size", "16", "--quiet", "--engine", "ray"]
    whole, cut = tmp_path / "whole.csv", tmp_path / "cut.csv"
    assert runner.invoke(cli, ["scan", str(folder), "--out", str(whole), *common]).exit_code == 3
    lines = whole.read_bytes().split(b"\n")
    cut.write_bytes(b"\n".join(lines[:20]) + b"\n" + lines[20][:5])  # a killed scan: 19 rows and a torn one
    resumed = runner.invoke(cli, ["scan", str(folder), "--out", str(cut), "--resume", *common])
    assert resumed.exit_code == 3 and cut.read_bytes() == whole.read_bytes()
    # labeled folders feed the metric suite and the gates as locally
    gated = runner.invoke(cli, ["scan", str(folder / "REAL"), str(folder / "FAKE"), "--out", str(tmp_path / "g.csv"),
                                "--fail-under", "accuracy=0.99", *common])
    assert gated.exit_code == 4 and "accuracy" in gated.stderr
    # a file:// URI is listed by pyarrow and read through it: the same verdicts, paths as URIs (names with
    # spaces, '#' and '%' are not URL-parsed)
    for i, name in enumerate(["0 (10).png", "x#1.png", "50%.png"]):
        Image.new("RGB", (9, 9), (60 * i, 90, 30)).save(folder / "REAL" / name)
    uri_csv = tmp_path / "uri.csv"
    local_csv = tmp_path / "local.csv"
    assert runner.invoke(cli, ["scan", f"file://{folder / 'REAL'}", "--out", str(uri_csv), *common]).exit_code == 0
    assert runner.invoke(cli, ["scan", str(folder / "REAL"), "--out", str(local_csv), "--model",
                               str(brightness_model), "--quiet"]).exit_code == 0
    assert uri_csv.read_text().replace("file://", "") == local_csv.read_text()


def test_uris_are_told_from_paths():
    assert is_uri("s3://bucket/key.jpg") and is_uri("gs://b/k") and is_uri("file:///tmp/x")
    assert not is_uri("/data/a://b.png") and not is_uri("photos/x.jpg") and not is_uri("C:\\x.png")


def test_uri_paths_are_taken_as_written(tmp_path):
    pytest.importorskip("pyarrow")
    from imgcheck.infer.errors import ImgcheckError
    from imgcheck.infer.remote_files import resolve_uri

    odd = tmp_path / "a b" / "0 (10)#1 50%.png"
    odd.parent.mkdir()
    odd.write_bytes(b"data")
    filesystem, path = resolve_uri(f"file://{odd}")
    assert path == str(odd) and filesystem.open_input_file(path).readall() == b"data"
    with pytest.raises(ImgcheckError, match="reads local paths and s3, gs, gcs, file URIs"):
        resolve_uri("hdfs://namenode:9000/x.png")


def test_a_missing_ray_is_one_clear_error(runner, tiny_files, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now fails
    image = tmp_path / "a.png"
    Image.new("RGB", (8, 8)).save(image)
    result = runner.invoke(cli, ["scan", str(image), "--engine", "ray", "--model", str(tiny_files["onnx"]), "--out",
                                 str(tmp_path / "v.csv")])
    assert result.exit_code == 1 and "pip install -e '.[ray]'" in result.stderr
    assert not os.path.exists(tmp_path / "v.csv")


@pytest.mark.parametrize("args, message", [
    (["--num-workers", "2"], "need --engine ray"),
    (["--engine", "ray", "--device", "cuda"], "needs --gpus-per-worker"),
    (["--engine", "ray", "--device", "cpu", "--gpus-per-worker", "1"], "contradicts"),
])
def test_ray_option_usage_errors(runner, tiny_files, tmp_path, args, message):
    result = runner.invoke(cli, ["scan", str(tmp_path), "--model", str(tiny_files["onnx"]), *args])
    assert result.exit_code == 2 and message in result.stderr


class _Cluster:
    """Stands in for the `ray` module where only `cluster_resources()` is asked."""

    def __init__(self, **resources):
        self.resources = resources

    def cluster_resources(self):
        return self.resources


def _actors(resources, blocks, **options):
    from imgcheck.infer.scan.ray_engine import RayOptions, RayScan

    scan = RayScan(None, 0.5, 8, RayOptions(**options))  # no model is opened to count actors
    return scan._actor_count(_Cluster(**resources), blocks)


def test_model_actors_fill_the_cluster_but_never_outnumber_the_blocks():
    from imgcheck.infer.errors import ImgcheckError

    assert _actors({"CPU": 4}, blocks=10) == 4
    assert _actors({"CPU": 4}, blocks=1) == 1  # one block: one actor, not four idle model sessions
    assert _actors({"CPU": 4}, blocks=10, decode_tasks=1) == 3  # a CPU left for the decode task
    assert _actors({"CPU": 16, "GPU": 2}, blocks=10, gpus_per_worker=0.5) == 4
    assert _actors({"CPU": 4}, blocks=10, num_workers=3) == 3
    with pytest.raises(ImgcheckError, match="need 5 CPUs, and the Ray cluster has 4"):
        _actors({"CPU": 4}, blocks=10, num_workers=3, decode_tasks=2)
    assert _actors({"CPU": 4}, blocks=1, num_workers=3, decode_tasks=2) == 1  # fits once capped by the blocks


@pytest.mark.slow
def test_ray_engine_keeps_the_classes_the_local_engine_keeps(runner, tmp_path, local_ray):
    from class_models import class_model, color_images

    model = class_model(tmp_path / "classes.onnx")
    folder = tmp_path / "imgs"
    color_images(folder, [(17 * i, 255 - 13 * i, 40 + 9 * i) for i in range(15)])
    (folder / "07b.png").write_bytes(b"not an image")
    common = ["scan", str(folder), "--model", str(model), "--batch-size", "4", "--quiet", "--keep-classes"]
    for suffix in ("csv", "jsonl"):
        local, ray_out = tmp_path / f"local.{suffix}", tmp_path / f"ray.{suffix}"
        assert runner.invoke(cli, [*common, "--out", str(local), "--workers", "0"]).exit_code == 3
        result = runner.invoke(cli, [*common, "--out", str(ray_out), "--engine", "ray", "--num-workers", "2"])
        assert result.exit_code == 3, result.output
        assert ray_out.read_bytes() == local.read_bytes()
    assert ",p:REAL," in (tmp_path / "ray.csv").read_text().splitlines()[0]


def test_a_ray_scan_refuses_keep_classes_for_a_single_output_model_before_ray_starts(runner, brightness_model,
                                                                                     tmp_path):
    result = runner.invoke(cli, ["scan", str(tmp_path), "--model", str(brightness_model), "--engine", "ray",
                                 "--keep-classes", "--out", str(tmp_path / "v.csv")])
    assert result.exit_code == 2 and "--keep-classes: the model outputs a single probability" in result.stderr
