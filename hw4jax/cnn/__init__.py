"""Question 3's CIFAR-10 CNN in Flax Linen, and the convolutions that make it fast on CPU.

model   ``CNN`` layer for layer as the PyTorch original; PyTorch-exact ``BatchNorm``,
        pooling and initialisation; the layer tables the PyTorch interop maps.
conv    stride-1 convolutions with hand-written gradients (``conv2d``, ``Conv``).
blocks  ``map_batch_blocks``: a per-example function over a batch in cache-sized blocks.
"""
