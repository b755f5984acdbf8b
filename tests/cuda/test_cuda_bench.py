"""engine.bench: run() on cpu and (simulated) cuda, and ``numbacnn bench`` writing the documented JSON."""
import json

import pytest

from engine import bench, cli


def test_bench_conv_cpu_and_cuda_writes_valid_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert cli.main(["bench", "--device", "cpu,cuda", "--ops", "conv", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["schema"] == "numbacnn.bench/1"
    assert set(data["devices"]) == {"cpu", "cuda"}
    rows = data["kernels"]
    assert {(r["device"], r["pass"]) for r in rows} == {(d, p) for d in ("cpu", "cuda")
                                                        for p in ("forward", "backward")}
    for r in rows:
        assert r["op"] == "conv" and r["ms"] > 0 and r["gflops"] is not None and r["gbps"] is None
        assert isinstance(r["shape"], str) and r["shape"]
    assert {(s["op"], s["pass"]) for s in data["speedups"]["kernels"]} == {("conv", "forward"), ("conv", "backward")}
    assert data["models"] == [] and data["speedups"]["models"] == []
    printed = capsys.readouterr().out
    assert "conv" in printed and "speed-up" in printed


def test_bench_rejects_unknown_names(capsys):
    assert cli.main(["bench", "--device", "cpu", "--ops", "convolution"]) == 2
    assert cli.main(["bench", "--device", "tpu"]) == 2
    assert cli.main(["bench", "--device", "cpu", "--model", "nonet"]) == 2
    assert "unknown" in capsys.readouterr().err


def test_speedups_and_table_for_models():
    models = [dict(model="vgg16", device="cpu", batch_size=128, images_per_sec=50.0, ms_per_step=2560.0, steps=2),
              dict(model="vgg16", device="cuda", batch_size=128, images_per_sec=2000.0, ms_per_step=64.0, steps=10),
              dict(model="vgg16", device="torch-cuda", batch_size=128, images_per_sec=4000.0, ms_per_step=32.0,
                   steps=10),
              dict(model="resnet20", device="cuda", batch_size=128, error="CUDA out of memory ...")]
    sp = bench.speedups([], models)
    assert sp["models"] == [{"model": "vgg16", "batch_size": 128, "speedup": 40.0, "vs_torch": 0.5}]
    table = bench.format_table({"kernels": [], "models": models, "speedups": sp, "repeats": 5, "warmup": 2,
                                "size": "default"})
    assert "vgg16" in table and "40.0x" in table and "0.5x" in table and "error" in table


def test_run_returns_the_result_without_printing(capsys):
    lines = []
    result = bench.run("cpu", "relu,sgd", repeats=1, warmup=0, size="tiny", log=lines.append)
    assert [(r["op"], r["pass"]) for r in result["kernels"]] == [("relu", "forward"), ("relu", "backward"),
                                                                ("sgd", "forward")]
    assert result["size"] == "tiny" and result["repeats"] == 1 and set(result["devices"]) == {"cpu"}
    assert len(lines) == 3 and capsys.readouterr() == ("", "")


def test_run_refuses_what_cannot_run():
    for kwargs, message in ((dict(devices="tpu"), "unknown device 'tpu'"),
                            (dict(ops="convolution"), "unknown op"),
                            (dict(models_="nonet"), "unknown model"),
                            (dict(size="huge"), "size must be 'tiny' or 'default'")):
        with pytest.raises(bench.BenchError, match=message):
            bench.run(**kwargs)
