"""BERT (Hugging Face ``transformers``' ``BertModel``, random seeded weights from the config: no download), two int64
inputs (token ids below the vocabulary size, an attention mask of ones) at sequence lengths 128 and 512.

Needs the optional extra: ``pip install 'pytest-infperf[transformers]'`` (skipped with that command where it is
missing). The CPU suite (``cpu`` preset) runs BERT-tiny (2 layers, hidden 128: the shape of google's
bert_uncased_L-2_H-128_A-2) to stay within its time budget on a 2-core machine (BERT-base at batch 8 and sequence 512
takes seconds per call there). BERT-base runs on cuda (torch, torch-compile, onnxruntime x fp32/fp16/bf16): in the
default GPU suite (``gpu`` preset) at batch 32 only, as ``test_bert_base_gpu`` (18 cells, onnxruntime's two bf16
cells skip: the suite's save and compare must each stay within 3 minutes, and ResNet-18 takes most of that), and with
``--infperf-preset=bert-gpu`` at batch 1 and 32, as ``test_bert_base``.
"""

import pytest

pytest.importorskip(
    "transformers", reason="BERT perf tests need Hugging Face transformers: pip install 'pytest-infperf[transformers]'"
)

VOCAB = 30522  # BertConfig's default vocabulary: token ids are drawn below it
INPUTS = {
    "input_ids": dict(shape=("seq",), dtype="int64", low=0, high=VOCAB),
    "attention_mask": dict(shape=("seq",), dtype="int64", fill=1),
}


def bert_base():
    import transformers

    return transformers.BertModel(transformers.BertConfig(), add_pooling_layer=True)


def bert_tiny():
    import transformers

    config = transformers.BertConfig(hidden_size=128, num_hidden_layers=2, num_attention_heads=2, intermediate_size=512)
    return transformers.BertModel(config, add_pooling_layer=True)


@pytest.mark.infperf(model=bert_tiny, name="bert-tiny", inputs=INPUTS, dims={"seq": [128, 512]}, unit="sequence",
                     sequence_dim="seq", presets=("cpu",))
def test_bert_tiny(infperf):
    infperf.benchmark()


BERT_BASE = dict(model=bert_base, name="bert-base", inputs=INPUTS, dims={"seq": [128, 512]}, unit="sequence",
                 sequence_dim="seq")


@pytest.mark.infperf(**BERT_BASE, presets=("bert-gpu",))
def test_bert_base(infperf):
    infperf.benchmark()


@pytest.mark.infperf(**BERT_BASE, presets=("gpu",), batches=(32,))  # instead of the preset's 1/16/64/128
def test_bert_base_gpu(infperf):
    infperf.benchmark()
