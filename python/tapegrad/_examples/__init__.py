"""The three models of "from micrograd to GPT", each written once against PyTorch's names.

``makemore`` (a character MLP), ``cnn`` (the 8x8 digits) and ``gpt`` (a tiny
GPT) take a backend module ``tg`` (``tapegrad``, ``tapegrad.reference``, or
``torch``), so the tests run the same code in PyTorch to compare, and the
benchmark's W6 and W7 time their training steps. Run one with
``python -m tapegrad demo makemore|cnn|gpt``.
"""
