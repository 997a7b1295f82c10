"""shapelint's test suite, a package: the model builders and helpers next to the tests import as
``tests.onnx_models``, ``tests.keras_models``, ``tests.tf_models``, ``tests.tflite_models``,
``tests.zoo_util`` and ``tests.support`` (the repository's root is on ``sys.path``: pytest's
``pythonpath`` setting in pyproject.toml; a child process gets it in ``PYTHONPATH``, see
``tests.support.child_env``)."""
