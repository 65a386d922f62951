"""The memory sampler: samples only while active (paused around the timed blocks)."""

from __future__ import annotations


def test_memory_sampler_samples_only_while_active():
    import time

    from pytest_infperf.measure.memory import MemorySampler

    sampler = MemorySampler("cpu", interval=0.001)
    with sampler:
        time.sleep(0.05)
        sampler.pause()
        time.sleep(0.01)
        paused_at = sampler.samples
        time.sleep(0.05)
        assert sampler.samples <= paused_at + 1  # at most the sample in flight when paused
        sampler.resume()
        time.sleep(0.05)
    stats = sampler.stats()
    assert stats.samples > paused_at + 5
    assert stats.rss_before_mib > 0 and stats.peak_mib == stats.rss_peak_mib
