"""Which images one rank of a torchrun bench run computes.

Fast mode compiles the network's graphs once per image shape in every process, and at photo sizes one
compilation costs one to two minutes (768×512 on an H100: 45 s forward, 81 s with the backward), so a rank should
meet as few shapes as it can. Dealing images round-robin by
list position gave each of four ranks three or four of the natural suite's four shapes; :func:`share` gives
each rank one contiguous run of the images sorted by shape, cut where the cumulative cost (pixels) crosses
a multiple of the total over the ranks: the loads differ by at most one image's cost, and a rank meets one
shape, or two where a cut falls between shapes. The split never changes a row: every image's seeds come
from its name, not from its rank.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .protocol import BenchImage

Shape = tuple[int, int]


def share(images: Sequence[BenchImage], rank: int, world: int,
          shape_of: Callable[[str], Shape | None]) -> list[BenchImage]:
    """The images of ``images`` that ``rank`` of ``world`` computes (in list order within each shape).

    ``shape_of(name)`` gives an image's ``(H, W)``; ``None`` (not known) counts as one shape of cost 1.
    Image *i*, in the order sorted by shape (shapes in order of first appearance), goes to the rank
    ``⌊world · m_i / total⌋``, where ``m_i`` is the cumulative cost at the image's midpoint.
    """
    if not 0 <= rank < world:
        raise ValueError(f"rank {rank} is not one of the {world} ranks.")
    shapes = [shape_of(im.name) for im in images]
    first = {s: i for i, s in reversed(list(enumerate(shapes)))}
    order = sorted(range(len(images)), key=lambda i: first[shapes[i]])  # stable: list order within a shape
    costs = [1 if shapes[i] is None else shapes[i][0] * shapes[i][1] for i in order]
    total, before, mine = sum(costs), 0, []
    for i, cost in zip(order, costs):
        if min(world - 1, int(world * (before + cost / 2) / total)) == rank:
            mine.append(images[i])
        before += cost
    return mine
