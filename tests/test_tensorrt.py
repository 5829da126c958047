"""The TensorRT paths: a clear LoweringError where they cannot run; the paths themselves are skipped
here, since TensorRT cannot be installed on the machines this project is built and tested on."""
import importlib.util

import pytest
import torch

import xslim_compile as xs

from .zoo import dit_inputs, make_dit

TENSORRT = importlib.util.find_spec("torch_tensorrt") is not None and torch.cuda.is_available()


@pytest.mark.skipif(TENSORRT, reason="torch_tensorrt and CUDA are present: the error path does not apply")
def test_tensorrt_backend_without_tensorrt_or_cuda_raises_lowering_error():
    opt = xs.optimize(make_dit(num_layers=2), xs.XSlimConfig(backend="tensorrt"))
    with pytest.raises(xs.LoweringError, match="backend='tensorrt' needs"), torch.no_grad():
        opt(**dit_inputs())
    assert issubclass(xs.LoweringError, xs.ConfigError)  # existing ConfigError handlers still catch it


@pytest.mark.skipif(not TENSORRT, reason="TensorRT cannot be installed here (no torch_tensorrt, no CUDA): the "
                                         "tensorrt backend and the trtexec line of the README were never run")
def test_tensorrt_backend_matches_eager():
    model = make_dit(num_layers=2).cuda()
    inputs = {k: v.cuda() for k, v in dit_inputs().items()}
    opt = xs.optimize(model, xs.XSlimConfig(backend="tensorrt"))
    with torch.no_grad():
        out, ref = opt(**inputs).sample, model(**inputs).sample
    assert float((out - ref).abs().max()) / float(ref.abs().max()) < 1e-3
