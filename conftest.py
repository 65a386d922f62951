"""The suite's own configuration lives in pyproject.toml ([tool.pytest.ini_options] infperf_* keys):
default matrix (torch + onnxruntime, fp32, batches 1,4,8, device auto) and baseline storage (baselines/)."""
