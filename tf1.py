"""TensorFlow as the whole project uses it: TF1 graph mode. Every module takes `tf` from here.

    from tf1 import tf

Importing this module is what switches TensorFlow 2 to graph mode (placeholders, Session), so
the order in which modules are imported does not matter: a module that builds graphs gets a
`tf` that is already in TF1 mode. TensorFlow's C++ start-up notices (oneDNN, CPU features)
bypass Python's logging and bury the messages users need, so stderr is held aside while it
loads and shown only if the import fails.
"""
import logging
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")   # errors only, before TensorFlow reads it


def _import_quietly():
    if "tensorflow" in sys.modules:
        return
    with tempfile.TemporaryFile(mode="w+") as held:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(held.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        except BaseException:
            os.dup2(saved, 2)
            held.seek(0)
            sys.stderr.write(held.read())
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


_import_quietly()
import tensorflow.compat.v1 as tf  # noqa: E402

logging.getLogger("tensorflow").setLevel(logging.ERROR)   # before the switch, which logs a deprecation notice
tf.disable_v2_behavior()
