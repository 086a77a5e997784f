"""Test-only access to the PyTorch references (torch, open_clip).

The CPU torch wheel and PyPI's torchvision do not load together ("operator torchvision::nms does
not exist"), and open_clip imports torchvision. open_clip never calls the detection operators, so
declaring their two schemas before torchvision is first imported is enough for it to load.
"""

import functools


@functools.cache
def open_clip():
    import torch

    lib = torch.library.Library("torchvision", "DEF")
    for op in ("nms", "qnms"):
        try:
            lib.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        except RuntimeError:  # a torchvision that matches torch already defined it
            pass
    _keep_alive.append(lib)  # the schemas live as long as the Library object
    import open_clip as oc

    return oc


_keep_alive = []
