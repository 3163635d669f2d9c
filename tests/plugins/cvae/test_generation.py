import pytest
import torch
from matplotlib.image import imread

from pynet_cvae.plugins.cvae import CVAE, ConditionalCVAE, sample_grid, write_sample_grid

from .conftest import digit_images


def models():
    torch.manual_seed(0)
    return [CVAE(input_dim=64, hidden_dim=16, latent_dim=3, n_classes=10),
            ConditionalCVAE(input_dim=64, hidden_dim=16, latent_dim=3, n_classes=10)]


@pytest.mark.parametrize("model", models(), ids=["tutorial", "conditional"])
def test_sample_draws_n_images_per_class_with_the_same_latents(model):
    images = model.sample([4, 7], n=5, generator=torch.Generator().manual_seed(1))
    assert images.shape == (10, 64) and 0 <= images.min() and images.max() <= 1
    again = model.sample([4, 7], n=5, generator=torch.Generator().manual_seed(1))
    assert torch.equal(images, again)
    z = torch.randn(5, 3)
    chosen = model.sample([4, 7], z=z)
    assert torch.allclose(chosen[:5], model.generate(torch.full((5,), 4), z))
    assert torch.allclose(chosen[5:], model.generate(torch.full((5,), 7), z))
    assert model.training  # the mode is restored


def test_temperature_scales_the_prior_draws():
    model = models()[1]
    z = torch.randn(6, 3, generator=torch.Generator().manual_seed(2))
    cold = model.sample(1, n=6, temperature=0.5, generator=torch.Generator().manual_seed(2))
    assert torch.allclose(cold, model.sample(1, z=0.5 * z))


def test_encode_and_reconstruct_use_the_given_or_predicted_class(trained_conditional, digits):
    x, labels = digit_images(digits, count=20)
    encoding = trained_conditional.encode(x)
    assert encoding.z_mu.shape == encoding.z_log_var.shape == (20, 8)
    assert torch.equal(encoding.labels, trained_conditional.classify(x).argmax(dim=1))
    given = trained_conditional.encode(x, labels)
    assert torch.equal(given.labels, labels)
    reconstruction = trained_conditional.reconstruct(x, labels)
    assert reconstruction.shape == (20, 64)
    # a trained model reconstructs better than the mean image
    error = ((reconstruction - x) ** 2).mean()
    assert error < ((x.mean(dim=0) - x) ** 2).mean()


def test_interpolation_runs_from_one_image_to_the_other(trained_conditional, digits):
    x, labels = digit_images(digits, count=2)
    path = trained_conditional.interpolate(x[0], x[1], steps=6)
    assert path.shape == (6, 64)
    assert torch.allclose(path[0], trained_conditional.reconstruct(x[:1])[0], atol=1e-6)
    assert torch.allclose(path[-1], trained_conditional.reconstruct(x[1:])[0], atol=1e-6)
    fixed = trained_conditional.interpolate(x[0], x[1], steps=3, label=5)
    assert fixed.shape == (3, 64)


def test_generation_errors_name_the_bad_value():
    model = models()[1]
    with pytest.raises(ValueError, match=r"class ids must lie in \[0, 10\), got values from 10 to 10"):
        model.sample(10)
    with pytest.raises(ValueError, match="n must be a positive integer, got 0"):
        model.sample(1, n=0)
    with pytest.raises(ValueError, match=r"z must have shape \(n, 3\), got \(2, 4\)"):
        model.sample(1, z=torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"\(batch, 64\), got \(2, 10\)"):
        model.encode(torch.zeros(2, 10))
    with pytest.raises(ValueError, match="one label per image \\(2\\), got 3"):
        model.reconstruct(torch.zeros(2, 64), [1, 2, 3])
    with pytest.raises(ValueError, match="steps must be an integer >= 2, got 1"):
        model.interpolate(torch.zeros(64), torch.zeros(64), steps=1)


def test_the_grid_png_has_one_row_per_class(tmp_path):
    model = models()[1]
    grid = sample_grid(model, n_columns=4)
    assert grid.shape == (10 * 9 + 1, 4 * 9 + 1)  # 8 x 8 images, 1-pixel padding
    path = write_sample_grid(model, str(tmp_path / "out" / "grid.png"), n_columns=4,
                             labels=[0, 3], scale=2)
    image = imread(path)
    assert image.shape[:2] == ((2 * 9 + 1) * 2, (4 * 9 + 1) * 2)


def test_rejection_sampling_keeps_only_what_the_classifier_recognises(trained_conditional):
    z = torch.randn(40, 8, generator=torch.Generator().manual_seed(3))
    plain = trained_conditional.sample([2, 5], z=z)
    chosen = trained_conditional.sample([2, 5], z=z, acceptance_threshold=0.5, max_draws=200,
                                        generator=torch.Generator().manual_seed(4))
    labels = torch.tensor([2] * 40 + [5] * 40)
    before = trained_conditional.class_probability(plain, labels)
    after = trained_conditional.class_probability(chosen, labels)
    assert (before < 0.5).any() and (before >= 0.5).any() and (after >= 0.5).all()
    # an accepted first draw keeps its z, a rejected one is replaced
    kept = before >= 0.5
    assert torch.equal(chosen[kept], plain[kept])
    assert not torch.isclose(chosen[~kept], plain[~kept]).all(dim=1).any()
    assert trained_conditional.training is False


def test_without_a_threshold_or_with_one_draw_every_sample_is_kept(trained_conditional):
    z = torch.randn(10, 8, generator=torch.Generator().manual_seed(5))
    plain = trained_conditional.sample([1, 8], z=z)
    assert torch.equal(trained_conditional.sample([1, 8], z=z, acceptance_threshold=0.0), plain)
    assert torch.equal(trained_conditional.sample([1, 8], z=z, acceptance_threshold=0.99,
                                                  max_draws=1), plain)


def test_an_image_never_accepted_is_the_most_recognisable_candidate(trained_conditional):
    # probabilities never reach 0.999999 here: each image is the best of its 5 candidates
    generator = torch.Generator().manual_seed(6)
    z = torch.randn(30, 8, generator=torch.Generator().manual_seed(7))
    plain = trained_conditional.sample([3], z=z)
    best = trained_conditional.sample([3], z=z, acceptance_threshold=0.999999, max_draws=5,
                                      generator=generator)
    labels = torch.full((30,), 3)
    before = trained_conditional.class_probability(plain, labels)
    after = trained_conditional.class_probability(best, labels)
    assert (after < 0.999999).all()  # none accepted: the premise of the test
    assert (after >= before).all()
    assert (after > before).any()  # the redraws were looked at, not only the first draws


def test_rejection_sampling_errors_name_the_bad_value():
    model = models()[1]
    with pytest.raises(ValueError, match=r"acceptance_threshold must lie in \[0, 1\), got 1.0"):
        model.sample(1, acceptance_threshold=1.0)
    with pytest.raises(ValueError, match="max_draws must be an integer >= 1, got 0"):
        model.sample(1, acceptance_threshold=0.5, max_draws=0)
    blind = ConditionalCVAE(input_dim=64, hidden_dim=16, latent_dim=3, n_classes=10,
                            classifier=False)
    with pytest.raises(ValueError, match="acceptance_threshold needs a class-only model "
                                         "with a classifier; ConditionalCVAE has none"):
        blind.sample(1, acceptance_threshold=0.5)
    assert blind.sample(1, n=2).shape == (2, 64)  # no threshold, no classifier needed
