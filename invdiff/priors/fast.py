"""Speed switches for a prior's network: bf16 autocast, channels_last memory, ``torch.compile``.

At batch 1 a diffusion solver is bound by kernel-launch overhead rather than arithmetic, which is
what ``compile="reduce-overhead"`` (CUDA graphs) removes; bf16 autocast halves memory traffic.
None of the switches changes what the caller sees: outputs come back in the input's dtype and
the standard memory format, and gradients flow through all of them (DPS back-propagates).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

DTYPES: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16}
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


@dataclass(frozen=True)
class SpeedConfig:
    """How the network runs: ``dtype`` of autocast ("fp32" = none), memory format, compile mode.

    ``dynamic`` (with ``compile`` only): one shape-generic graph for every image shape, compiled once per process,
    instead of one specialised graph per shape (the default). Why it exists: at photo sizes a specialised compile
    cost minutes per shape (the natural prior's forward at 768×512: 118 s on an H200, nearly all of it
    single-threaded inductor code generation; ``benchmarks/results/speed/README.md``). Most of that came from the
    windowed attention's per-window loop, since rewritten (45 s on an H100). Measured after the rewrite, ``dynamic``
    does not pay: 147 s for its first forward and 14.2 against 8.4 ms a call; it stays for such measurements.
    """

    dtype: str = "fp32"
    channels_last: bool = False
    compile: bool | str = False
    compile_backend: str = "inductor"
    dynamic: bool = False

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {sorted(DTYPES)}, not {self.dtype!r}.")
        if not isinstance(self.compile, bool) and self.compile not in COMPILE_MODES:
            raise ValueError(f"compile must be True, False or a mode in {COMPILE_MODES}, not {self.compile!r}.")
        if self.dynamic and self.compile is False:
            raise ValueError("dynamic=True shapes the compiled graph; it needs compile=True or a compile mode.")

    @property
    def compile_mode(self) -> str | None:
        """The ``torch.compile`` mode, or None when not compiling."""
        if self.compile is False:
            return None
        return "default" if self.compile is True else self.compile


class NetRunner:
    """Calls ``net(x, t[, y])`` under a :class:`SpeedConfig`.

    Not an ``nn.Module`` on purpose: the compiled wrapper must not add a second copy of the
    weights to the prior's ``state_dict``.
    """

    def __init__(self, net: nn.Module, speed: SpeedConfig | None = None) -> None:
        self.net = net
        self.speed = speed = speed or SpeedConfig()
        memory_format = torch.channels_last if speed.channels_last else torch.contiguous_format
        net.to(memory_format=memory_format)
        mode = speed.compile_mode
        # dynamic=False (default): one specialised graph per input shape (a solver keeps its shape for the whole
        # run, and tiles share one shape: tiling.run_network fills the last chunk to full size when
        # compiling), instead of a slower shape-generic kernel set after the second shape is seen
        self.fn = net if mode is None else torch.compile(net, mode=mode, backend=speed.compile_backend,
                                                         dynamic=speed.dynamic)
        self.graphs = mode in ("reduce-overhead", "max-autotune")

    def param_dtype(self) -> torch.dtype | None:
        """dtype of the network's floating weights (what an un-autocast input must be cast to); None if it has none."""
        for p in self.net.parameters():
            if p.is_floating_point():
                return p.dtype
        return None

    def __call__(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        speed = self.speed
        x_in = x.to(self.param_dtype() or x.dtype)
        if speed.channels_last:
            x_in = x_in.contiguous(memory_format=torch.channels_last)
        autocast_dtype = DTYPES[speed.dtype]
        if self.graphs:
            # each call is a new step: earlier outputs were copied out below, so the graph pool may be reused
            torch.compiler.cudagraph_mark_step_begin()
        with torch.autocast(x.device.type, dtype=autocast_dtype or torch.float32, enabled=autocast_dtype is not None):
            raw = self.fn(x_in, t) if y is None else self.fn(x_in, t, y)
        out = raw.to(x.dtype).contiguous()
        if self.graphs and out.data_ptr() == raw.data_ptr():
            # CUDA-graph outputs live in a pool that the next replay overwrites: hand out a copy.
            out = out.clone()
        return out
