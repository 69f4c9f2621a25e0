"""Which images each rank of a torchrun bench computes (invdiff.bench.ranks): every image once, the cost
balanced, and few image shapes per rank, since the fast mode compiles the network once per shape and rank."""

from __future__ import annotations

import pytest

from invdiff.bench.protocol import BenchImage
from invdiff.bench.ranks import share

KODAK_L, KODAK_P, CBSD_L, CBSD_P = (512, 768), (768, 512), (320, 480), (480, 320)


def natural_gpu8() -> tuple[list[BenchImage], dict[str, tuple[int, int]]]:
    """The natural suite's gpu8 subset as the runner lists it (set order, then name), with its real shapes."""
    kodak = {1: KODAK_L, 4: KODAK_P, 7: KODAK_L, 10: KODAK_P, 13: KODAK_L, 16: KODAK_L, 19: KODAK_P, 22: KODAK_L}
    cbsd = {"101085": CBSD_P, "108082": CBSD_L, "14037": CBSD_L, "160068": CBSD_L, "182053": CBSD_L,
            "216081": CBSD_L, "241004": CBSD_L, "295087": CBSD_L}
    images = [BenchImage(i, f"kodak24/kodim{k:02d}.png", None) for i, k in enumerate(kodak)]
    images += [BenchImage(i, f"cbsd68/{n}.jpg", None) for i, n in enumerate(cbsd)]
    shapes = {f"kodak24/kodim{k:02d}.png": s for k, s in kodak.items()}
    shapes.update({f"cbsd68/{n}.jpg": s for n, s in cbsd.items()})
    return images, shapes


@pytest.mark.parametrize("world", [1, 2, 3, 4, 8])
def test_every_image_goes_to_exactly_one_rank(world):
    images, shapes = natural_gpu8()
    parts = [share(images, rank, world, shapes.get) for rank in range(world)]
    names = [im.name for part in parts for im in part]
    assert sorted(names) == sorted(im.name for im in images)


@pytest.mark.parametrize("world", [2, 4])
def test_ranks_get_balanced_cost_and_few_shapes(world):
    """Contiguous runs of the shape-sorted list: S shapes are met S + world - 1 times over all ranks at most
    (round-robin by position: 14 times on 4 ranks, each rank 3-4 of the 4 shapes)."""
    images, shapes = natural_gpu8()
    cost = {n: h * w for n, (h, w) in shapes.items()}
    parts = [share(images, rank, world, shapes.get) for rank in range(world)]
    loads = [sum(cost[im.name] for im in part) for part in parts]
    mean, largest = sum(loads) / world, max(cost.values())
    assert all(abs(load - mean) <= largest for load in loads), loads
    met = [len({shapes[im.name] for im in part}) for part in parts]
    assert sum(met) <= len(set(shapes.values())) + world - 1, met


def test_one_shape_is_dealt_evenly_and_in_list_order():
    images = [BenchImage(i, f"s/{i}", None) for i in range(16)]
    parts = [share(images, rank, 8, lambda name: (64, 64)) for rank in range(8)]
    assert [[im.index for im in part] for part in parts] == [[2 * r, 2 * r + 1] for r in range(8)]


def test_unknown_shapes_count_as_one_shape_of_equal_cost():
    images = [BenchImage(i, f"s/{i}", None) for i in range(5)]
    parts = [share(images, rank, 2, lambda name: None) for rank in range(2)]
    assert [len(p) for p in parts] == [3, 2] or [len(p) for p in parts] == [2, 3]


def test_a_bad_rank_is_refused():
    with pytest.raises(ValueError, match="rank"):
        share([], 2, 2, lambda name: None)
