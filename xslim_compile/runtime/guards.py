"""What must not change under a captured graph without a new capture, and the calls that change it.

torch.export specialises into the graph everything that is not a tensor input: which parameter
objects are read, the module structure, the attention processors (diffusers' processors are plain
objects, not modules), adapter scales and active adapters (peft keeps them as Python floats and
names), fused projections, and every Python scalar attribute a forward reads (e.g. `training`,
`fused_projections`, `scale`), and the diffusers hooks on each module (context parallelism's input
splits and output gathers are hooks the graphs trace through). The fingerprint covers all of these; it is taken at capture, checked
at the start of every generation, and right away after a call of one of MUTATORS through the
optimized module. In-place value updates of parameters keep it: the graphs read the same objects.
"""
from __future__ import annotations

from torch import nn

SCALARS = (bool, int, float, str, type(None))
# model methods that change what forward computes without replacing a parameter or a module
MUTATORS = frozenset({
    "set_attn_processor", "set_default_attn_processor", "fuse_qkv_projections", "unfuse_qkv_projections",
    "set_adapters", "set_adapter", "enable_adapters", "disable_adapters", "enable_lora", "disable_lora",
    "load_lora_adapter", "unload_lora", "delete_adapters", "fuse_lora", "unfuse_lora", "add_adapter",
    "enable_parallelism",
})


def _plain(value):
    """A hashable view of a scalar, or of a small container of scalars (peft's scaling dicts, active
    adapter lists); None for anything else (tensors, modules, callables are not specialised values)."""
    if isinstance(value, SCALARS):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(v, SCALARS) for v in value):
        return tuple(value)
    if isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, SCALARS) for k, v in value.items()):
        return tuple(sorted(value.items()))
    return None


def _attributes(obj) -> tuple:
    return tuple(sorted((k, v) for k, v in ((k, _plain(v)) for k, v in vars(obj).items()) if v is not None))


def model_fingerprint(model: nn.Module) -> int:
    """Changes when anything the captured graphs specialise on changes (see the module docstring)."""
    params = tuple((name, id(p), tuple(p.shape), p.dtype, p.device) for name, p in model.named_parameters())
    buffers = tuple((name, id(b), tuple(b.shape), b.dtype, b.device) for name, b in model.named_buffers())
    modules = []
    for name, module in model.named_modules():
        processor = getattr(module, "processor", None)
        if processor is not None and not isinstance(processor, nn.Module):
            processor = (type(processor), _attributes(processor))
        hooks = getattr(module, "_diffusers_hook", None)
        hooks = tuple(getattr(hooks, "hooks", {})) if hooks is not None else ()
        modules.append((name, type(module), _attributes(module), processor, hooks))
    return hash((params, buffers, tuple(modules)))


def placement(model: nn.Module) -> tuple:
    """Devices and dtypes of every parameter and buffer: what `.to()` may change."""
    return tuple((t.device, t.dtype) for t in (*model.parameters(), *model.buffers()))
