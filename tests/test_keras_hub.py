"""keras_hub (keras_nlp, keras_cv) models save the arguments of a Python constructor in config.json,
not a layer graph: shapelint cannot read one without running the package's code, which it never
does. It says so in one line naming the class and what to lint instead, exits 2, and never counts
the file as clean."""

import json
import zipfile

import pytest

import shapelint
from shapelint import cli


def _save(tmp_path, config, name="backbone.keras"):
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("config.json", json.dumps(config))
        z.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
    return path


# as keras_hub 0.2x writes them: the module and registered name, the constructor's arguments
HUB = [
    {"module": "keras_hub.src.models.resnet.resnet_backbone", "class_name": "ResNetBackbone",
     "config": {"name": "res_net_backbone", "stackwise_num_filters": [64, 128], "stackwise_num_blocks": [2, 2],
                "image_shape": [None, None, 3]},
     "registered_name": "keras_hub>ResNetBackbone"},
    {"module": "keras_hub.src.models.image_segmenter", "class_name": "DeepLabV3ImageSegmenter",
     "config": {"backbone": {"module": "keras_hub.src.models.resnet.resnet_backbone", "class_name": "ResNetBackbone",
                             "config": {}}, "num_classes": 3},
     "registered_name": "keras_hub>DeepLabV3ImageSegmenter"},
    {"module": "builtins", "class_name": "BertBackbone", "config": {"vocabulary_size": 10},
     "registered_name": "keras_nlp>BertBackbone"},
]


@pytest.mark.parametrize("config", HUB, ids=[c["class_name"] for c in HUB])
def test_a_keras_hub_model_is_an_error_that_says_what_to_lint_instead(tmp_path, capsys, config):
    path = _save(tmp_path, config)
    assert cli.main(["check", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(path) in err
    assert f"'{config['class_name']}' is a keras_hub model" in err
    assert "runs no code from a model file" in err and "model.export(" in err and "shapelint check" in err
    assert cli.main(["check", str(path), "--format", "json"]) == 2
    records = json.loads(capsys.readouterr().out)
    assert [r["severity"] for r in records] == ["error"]
    with pytest.raises(shapelint.ModelError, match="keras_hub model"):  # the API raises, never a clean Report
        shapelint.check(str(path))


def test_another_subclassed_model_says_the_same_without_naming_keras_hub(tmp_path, capsys):
    path = _save(tmp_path, {"module": "my_project.models", "class_name": "MyNet", "config": {"width": 8},
                            "registered_name": "Custom>MyNet"})
    assert cli.main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "subclassed keras.Model ('MyNet')" in err and "keras_hub" not in err and "model.export(" in err


def test_a_hostile_class_name_is_escaped(tmp_path, capsys):
    path = _save(tmp_path, {**HUB[0], "class_name": "Net\x1b]0;pwned\x07\n::error::x"})
    assert cli.main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\n::" not in err and err.count("\n") == 1
