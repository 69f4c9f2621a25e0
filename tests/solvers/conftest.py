import pytest
import torch

from tests.priors.helpers import tiny_conditional_prior, tiny_prior

FAST_SETTINGS = {
    "dps": {"steps": 3},
    "ddrm": {"steps": 3},
    "repaint": {"steps": 4, "jump_length": 2, "resamples": 2},
    "sr3": {"steps": 3},
    "diffpir": {"steps": 3},
    "ddnm": {"steps": 3},
    "pigdm": {"steps": 3},
    "daps": {"steps": 2, "ode_steps": 2, "langevin_steps": 2},
}


@pytest.fixture(scope="session")
def prior():
    return tiny_prior(seed=0)


@pytest.fixture(scope="session")
def prior_for(prior):
    """The tiny prior a method runs with: the conditional one for sr3 (SR3 learns p(x | y)), else ``prior``."""
    conditional = tiny_conditional_prior(seed=0)
    return lambda method: conditional if method == "sr3" else prior


@pytest.fixture
def clean_images():
    """Two smooth 16×16 test images in [0, 1]."""
    gen = torch.Generator().manual_seed(3)
    x = torch.rand(2, 3, 4, 4, generator=gen)
    return torch.nn.functional.interpolate(x, size=16, mode="bilinear", align_corners=False)
