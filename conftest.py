"""Repository-wide pytest configuration.

The scenario plugin (``harness.pytest_plugin``) is registered through the
package entry point; this file only makes the source tree importable when the
package has not been installed, and exposes the CI flag.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
