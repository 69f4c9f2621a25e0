"""Suite-wide settings: small CPU thread pool (CI has 2 cores shared with the test runner)."""

import torch

torch.set_num_threads(2)
