"""Files the run builds and caches: model specs and ONNX exports, int8 models, TensorRT engines, atomic writes."""
