"""BERT (Hugging Face ``transformers``' ``BertModel``, random seeded weights from the config: no download), two int64
inputs (token ids below the vocabulary size, an attention mask of ones) at sequence lengths 128 and 512.

Needs the optional extra: ``pip install 'pytest-infperf[transformers]'`` (skipped with that command where it is
missing). The CPU suite (``cpu`` preset) runs BERT-tiny (2 layers, hidden 128: the shape of google's
bert_uncased_L-2_H-128_A-2) to stay within its time budget on a 2-core machine (BERT-base at batch 8 and sequence 512
takes seconds per call there). BERT-base runs on cuda (torch, torch-compile, onnxruntime x fp32/fp16/bf16 x batch
1/32) with ``--infperf-preset=bert-gpu``. It is not in the default GPU suite: with BERT-base at batch 32 in it (16
cells beside ResNet-18's 32) a save took 249 s and a compare 235 s on the H200, over the 3 minutes each may take
(``docs/results/NVIDIA_H200/gate.md``, sixth device session; reloading torch.compile's BERT for each repeat alone took
48 s).
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


@pytest.mark.infperf(model=bert_base, name="bert-base", inputs=INPUTS, dims={"seq": [128, 512]}, unit="sequence",
                     sequence_dim="seq", presets=("bert-gpu",))
def test_bert_base(infperf):
    infperf.benchmark()
