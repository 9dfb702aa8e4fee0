from tests.conftest import TinyModel


def test_tiny_model_is_stored_as_version_1(tiny_model: TinyModel) -> None:
    assert tiny_model.store.versions("tiny") == [1]
