"""spark-submit entry point: `synthlib evaluate --conf FILE [key=value ...]`."""
import os
import sys

# Keep this folder off the import path: jobs/profile.py would shadow the standard library.
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

from synthlib.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["evaluate", *sys.argv[1:]]))
