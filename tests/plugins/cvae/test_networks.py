import pytest
import torch

from pynet_cvae.plugins.cvae.networks import (Conv2dDecoder, Conv2dTrunk, Conv3dDecoder,
                                              Conv3dTrunk, DenseDecoder, DenseTrunk,
                                              build_network)
from pynet_cvae.registry import Networks


@pytest.mark.parametrize("trunk, decoder, shape", [
    (DenseTrunk, DenseDecoder, (8, 8)), (Conv2dTrunk, Conv2dDecoder, (8, 12)),
    (Conv3dTrunk, Conv3dDecoder, (4, 8, 8))])
def test_trunks_and_decoders_map_flattened_images(trunk, decoder, shape):
    size = int(torch.tensor(shape).prod())
    features = trunk(shape, 16)(torch.rand(3, size))
    assert features.shape == (3, 16)
    assert decoder(5, 16, shape)(torch.rand(3, 5)).shape == (3, size)
    assert Networks.get(trunk.__name__) is trunk and Networks.get(decoder.__name__) is decoder


def test_build_network_takes_a_module_or_a_registered_name():
    module = DenseTrunk((2, 2), 3)
    assert build_network(module, "encoder") is module
    assert isinstance(build_network("Conv3dTrunk", "encoder", (4, 4, 4), 8), Conv3dTrunk)
    with pytest.raises(ValueError, match="decoder 'Nope' is not a registered network"):
        build_network("Nope", "decoder")
    with pytest.raises(ValueError, match="cannot build encoder Conv2dTrunk from .*needs a "
                                         "2-D image_shape, got \\(4, 4, 4\\)"):
        build_network("Conv2dTrunk", "encoder", (4, 4, 4), 8)
    with pytest.raises(ValueError, match="multiples of 4, got image_shape \\(4, 6\\)"):
        Conv2dDecoder(3, 8, (4, 6))


def test_the_volume_networks_take_any_side_padded_evenly():
    from pynet_cvae.plugins.cvae.networks import VolumeDecoder, VolumeTrunk

    shape = (5, 18, 9)
    trunk, decoder = VolumeTrunk(shape, 8), VolumeDecoder(3, 8, shape)
    assert trunk.padded_shape == decoder.padded_shape == (16, 32, 16)
    assert trunk._padding == [3, 4, 7, 7, 5, 6]  # last axis first, half before
    assert trunk(torch.rand(2, 5 * 18 * 9)).shape == (2, 8)
    assert decoder(torch.rand(2, 3)).shape == (2, 5 * 18 * 9)
    assert Networks.get("VolumeTrunk") is VolumeTrunk
    with pytest.raises(ValueError, match="VolumeTrunk needs a 3-D image_shape, got \\(4, 4\\)"):
        VolumeTrunk((4, 4), 8)


def _without_dropout(module):
    for layer in module.modules():
        if isinstance(layer, torch.nn.Dropout):
            layer.p = 0.0
    return module


@pytest.mark.parametrize("name, per_image", [("Conv2dGroupNormTrunk", True),
                                             ("Conv2dBatchNormTrunk", False)])
def test_the_block_trunks_normalise_each_image_alone_or_the_batch(name, per_image):
    torch.manual_seed(0)
    trunk = _without_dropout(build_network(name, "classifier trunk", (10, 14), 16)).train()
    batch = torch.rand(5, 140)
    alone, together = trunk(batch[:2]), trunk(batch)[:2]
    assert together.shape == (2, 16) and Networks.get(name).__name__ == name
    # group normalisation: an image's features do not depend on the rest of the batch,
    # which keeps a run on several processes the one-process run
    assert torch.allclose(alone, together, atol=1e-6) == per_image


def test_the_block_trunks_refuse_images_they_cannot_pool():
    from pynet_cvae.plugins.cvae.networks import Conv2dGroupNormTrunk
    from pynet_cvae.plugins.cvae.networks.blocks import conv_block

    with pytest.raises(ValueError, match="Conv2dGroupNormTrunk needs a 2-D image_shape, "
                                         "got \\(4, 4, 4\\)"):
        Conv2dGroupNormTrunk((4, 4, 4), 8)
    with pytest.raises(ValueError, match="at least 4 x 4 pixels, got image_shape \\(3, 8\\)"):
        Conv2dGroupNormTrunk((3, 8), 8)
    with pytest.raises(ValueError, match="normalization must be 'batch' or 'group', got "
                                         "'layer'"):
        conv_block(1, 8, "layer")


def test_sample_dropout_draws_each_images_mask_as_the_one_process_run():
    from pynet_cvae.distributed import DistributedContext, sharded_steps
    from pynet_cvae.plugins.cvae.networks.blocks import SampleDropout

    dropout, x = SampleDropout(0.25), torch.ones(8, 500)
    torch.manual_seed(0)
    whole = dropout(x)
    assert whole.unique().tolist() == pytest.approx([0.0, 1 / 0.75])
    assert 0.2 < float((whole == 0).float().mean()) < 0.3
    shares = []
    for rank in (0, 1):
        torch.manual_seed(0)
        with sharded_steps(DistributedContext(rank, 2, rank)):
            shares.append(dropout(x[:4]))
    assert torch.equal(torch.cat(shares), whole)
    assert torch.equal(dropout.eval()(x), x)
