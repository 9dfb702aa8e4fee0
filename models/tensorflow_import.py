"""Import TensorFlow without the C++ start-up chatter it writes straight to file descriptor 2.

absl prints "All log messages before absl::InitializeLog()..." and oneDNN notices on import,
ignoring TF_CPP_MIN_LOG_LEVEL; a CLI whose errors are one line cannot have that. The chatter is
captured and shown only if the import fails.
"""

from __future__ import annotations

import os
import sys
import tempfile
from types import ModuleType


def import_tensorflow() -> ModuleType:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    sys.stderr.flush()
    saved_fd = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            import tensorflow
        except BaseException:
            os.dup2(saved_fd, 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved_fd, 2)
            os.close(saved_fd)
    import keras  # noqa: F401 - its import is quiet once TensorFlow's is done

    return tensorflow
