"""torch's dtype names as numpy dtypes (``engine.float32`` is ``np.dtype("float32")``), so
``x.dtype == torch.float32`` and ``x.to(torch.long)`` read the same here."""
import numpy as np

float32 = float = np.dtype(np.float32)
float64 = double = np.dtype(np.float64)
int64 = long = np.dtype(np.int64)
int32 = int = np.dtype(np.int32)
uint8 = np.dtype(np.uint8)
bool = np.dtype(np.bool_)
