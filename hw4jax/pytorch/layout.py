"""Where each hw4jax layer sits in the homework ``Net``'s ``nn.Sequential`` blocks.

Plain tables, importable with neither torch nor JAX: ``reference`` (torch only, also run
in the torchvision virtual environment) and ``interop`` (numpy) share them.
"""

# PyTorch state_dict index of each hw4jax layer name: Net.conv_layer.<i> / Net.fc_layer.<i>.
TORCH_CONV_INDEX = {"conv1": 0, "conv2": 3, "conv3": 6, "conv4": 9, "conv5": 13, "conv6": 16}
TORCH_BN_INDEX = {"bn1": 1, "bn2": 7, "bn3": 14}
TORCH_FC_INDEX = {"fc1": 2, "fc2": 4, "fc3": 7}
