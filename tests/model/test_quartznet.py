"""QuartzNet's structure: the paper's 5x5 size, blocks and residuals."""

import pytest
import torch

from src.model import QuartzNet


def test_the_defaults_are_quartznet_5x5():
    model = QuartzNet(64, 29)
    assert len(model.blocks) == 5 and all(len(block.layers) == 5 for block in model.blocks)
    assert [block.layers[0].kernel for block in model.blocks] == [33, 39, 51, 63, 75]
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(6.7e6, rel=0.01)
    assert (model.epilogue.kernel, model.epilogue.dilation) == (87, 2)


def test_block_repeats_give_10x5():
    model = QuartzNet(64, 29, block_repeats=2)
    assert len(model.blocks) == 10


def test_output_frames_are_a_stride_of_the_input():
    model = QuartzNet(
        64,
        29,
        prologue_channels=8,
        block_channels=[8],
        block_kernels=[5],
        module_repeats=1,
        epilogue_channels=8,
        head_channels=8,
    )
    output = model(torch.randn(2, 64, 100), torch.tensor([100, 51]))
    assert output["log_probs_length"].tolist() == [50, 26]


def test_bad_settings_fail_clearly():
    with pytest.raises(ValueError, match="one entry per block"):
        QuartzNet(64, 29, block_channels=[8, 8], block_kernels=[5])
    with pytest.raises(ValueError, match="odd"):
        QuartzNet(64, 29, prologue_kernel=32)
