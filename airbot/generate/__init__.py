"""Text generation for every bot: one ``stream.stream_chat`` entry point.

Behind it: ``engine`` (a Llama-family model's weights laid out for one-token decoding with a KV
cache), ``kernels`` (weight-only quantized projections), and ``hf_generate`` (transformers'
``generate`` fallback for models the engine does not support, and the shared timing record).

May import: the base only.
"""
