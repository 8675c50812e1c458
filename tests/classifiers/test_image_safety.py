"""The packaged image-safety prior: verified file, shapes refused at load, benign photos stay low."""

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from PIL import Image

from classifiers import image_safety
from classifiers.inference import CategoryInfo
from classifiers.inference.image import ImageModel
from classifiers.weights_files import WeightsFileError

PHOTOS = Path(__file__).resolve().parents[2] / "bench" / "photos"


def _identity_model(path: Path, shape: list) -> Path:
    graph = helper.make_graph(
        [helper.make_node("Identity", ["image"], ["probabilities"])],
        "wrong",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, shape)],
    )
    # IR version 10: what onnxruntime 1.31 reads (onnx 1.23 would write a newer one by default).
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=10), str(path))
    return path


def test_a_model_of_another_input_or_output_shape_is_refused_when_loaded(tmp_path):
    small = _identity_model(tmp_path / "small.onnx", ["n", 3, 32, 32])
    with pytest.raises(WeightsFileError, match=r"small.onnx: expected one float input of shape \(n, 3, 224, 224\)"):
        image_safety._session(small, 1)
    same_input = _identity_model(tmp_path / "identity.onnx", ["n", 3, 224, 224])
    with pytest.raises(WeightsFileError, match=r"identity.onnx: expected one output of shape \(n, 3\)"):
        image_safety._session(same_input, 1)


def test_a_file_that_is_not_the_pinned_one_is_refused_naming_it(tmp_path):
    other = _identity_model(tmp_path / "other.onnx", ["n", 3, 224, 224])
    with pytest.raises(WeightsFileError, match=rf"other.onnx: {other.stat().st_size} bytes, expected 23701765"):
        image_safety.load(other)


def test_benign_photos_get_low_sexual_and_violence_priors_from_the_safety_model():
    categories = [CategoryInfo(slug=s, description="") for s in ("sexual", "violence", "spam")]
    model = ImageModel.load(None, "mobilenetv3_small_050", categories, input_size=64)
    photos = [Image.open(path).convert("RGB") for path in sorted(PHOTOS.glob("*.jpg"))]
    scores = model.predict(model.embed(photos), photos)
    for row in scores:
        assert row["sexual"].probability < 0.2 and row["violence"].probability < 0.2
        assert row["sexual"].from_prior and row["sexual"].source in {"image-safety model", "base rate"}
    probabilities = image_safety.load().probabilities(photos)
    assert probabilities.shape == (len(photos), 3) and (probabilities[:, 2] > 0.8).all()  # SFW


def test_the_prior_rises_with_the_class_probability_up_to_the_cap():
    low, high = image_safety.category_prior(np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]), "sexual", 0.05)
    assert low == pytest.approx(0.05) and high == pytest.approx(image_safety.CAP)


def test_a_phone_size_photo_decoded_reduced_gets_the_probabilities_of_the_full_decode():
    import io

    from classifiers.inference.image_decoding import decode_image

    buffer = io.BytesIO()
    Image.open(PHOTOS / "astronaut.jpg").convert("RGB").resize((2304, 2304), Image.Resampling.BICUBIC).save(
        buffer, format="JPEG", quality=90
    )
    reduced, full = decode_image(buffer.getvalue()), decode_image(buffer.getvalue(), min_side=None)
    assert reduced.size == (576, 576) and full.size == (2304, 2304)
    probabilities = image_safety.load().probabilities([reduced, full])
    assert np.abs(probabilities[0] - probabilities[1]).max() < 0.01


def test_the_letterbox_fits_the_image_in_the_square_over_a_blurred_stretch_of_itself():
    wide = Image.new("RGB", (400, 100), (200, 30, 30))
    wide.paste((30, 30, 200), (0, 0, 200, 100))  # left half blue, right half red
    pixels = image_safety.blurpad(wide)
    assert pixels.shape == (3, 224, 224) and pixels.dtype == np.float32
    band = slice(112 - 28 + 2, 112 + 28 - 2)  # the fitted image: 224 x 56, centred
    assert pixels[2, band, 20].mean() > 190 and pixels[0, band, 200].mean() > 190
    # Above and below it, the same picture stretched and blurred: blue on the left, red on the right, no hard edge.
    assert pixels[2, 10, 20] > pixels[0, 10, 20] and pixels[0, 10, 200] > pixels[2, 10, 200]
    assert abs(float(pixels[0, 10, 110]) - float(pixels[0, 10, 114])) < 60  # a hard edge would jump by 170
