"""The README's Python API example runs as written (from the repository root, with the
real MNIST files in ../shared/data)."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_python_api_example_runs():
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("## The Python API", 1)[1]
    example = section.split("```python\n", 1)[1].split("```", 1)[0]
    done = subprocess.run([sys.executable, "-c", example + SCORE], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-3000:]
    accuracy = float(done.stdout.strip().splitlines()[-1].split()[-1])
    assert accuracy > 0.9, done.stdout[-2000:]   # one epoch learns MNIST (0.9207: the same as before autograd)


SCORE = """
test = MNIST("../shared/data", train=False, transform=train.transform)
model.eval()
with engine.no_grad():
    hits = sum((model(x).argmax(1) == y).sum().item() for x, y in DataLoader(test, batch_size=500))
print("test accuracy", hits / len(test))
"""
