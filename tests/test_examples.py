from examples.seed_toy import run, toy_windows


def test_the_seed_toy_example_learns_to_reconstruct_its_seven_windows() -> None:
    assert toy_windows().shape == (7, 3, 2)
    before, after = run(epochs=100)
    assert after < before / 10
