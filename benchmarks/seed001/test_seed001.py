"""Seed 001 on a GPU, through a real Triton server: ResNet-18 fp16 served by onnxruntime (CUDA provider, IO binding)
and by torch replayed from CUDA graphs, behind Triton's dynamic batcher at max batch 8/16/32/64 (500 us queue delay),
1-10 closed-loop users each sending batch-1 requests of one 3x224x224 image — the table seed 001 measured (user
count, requests, total time, dps), plus p50/p90/p99, the batches Triton formed and its queue/compute split. Then the
client's own ceiling (a trivial model served beside ResNet-18) with inputs in the gRPC message and through Triton's
system shared memory. Needs a GPU and PyTriton (skips otherwise). On the GPU machine (``benchmarks/gpu_serving.sh``):

    python3 -m pytest benchmarks/seed001 -p no:randomly --benchmark-json=seed001.json --infperf-plot=plots
"""

import pytest

RESNET18 = dict(model="pytest_infperf.artifacts.models:resnet18", name="resnet18", input_shape=(3, 224, 224),
                device="cuda", precision="fp16", queue_delay_us=500, duration_s=1.5, warmup_s=0.3, repeats=1)
SWEEP = dict(RESNET18, max_batch=[8, 16, 32, 64], users=list(range(1, 11)), ceiling=False)


@pytest.mark.infperf_serving(**SWEEP, backend="onnxruntime")
def test_onnxruntime(infperf_serving):
    assert infperf_serving.run().load.errors == 0


@pytest.mark.infperf_serving(**SWEEP, backend="torch-cudagraph")
def test_torch_cudagraph(infperf_serving):
    assert infperf_serving.run().load.errors == 0


CEILING = dict(RESNET18, name="resnet18 (client ceiling)", backend="torch-cudagraph", max_batch=[64], users=[1, 8, 10],
               ceiling=True)


@pytest.mark.infperf_serving(**CEILING)
def test_client_ceiling(infperf_serving):
    assert infperf_serving.run().load.errors == 0


@pytest.mark.infperf_serving(**CEILING, shm=True)
def test_client_ceiling_shared_memory(infperf_serving):
    assert infperf_serving.run().load.errors == 0
