"""spark-submit entry point: `synthlib profile --conf FILE [key=value ...]`."""
import sys

from synthlib.cli import main

if __name__ == "__main__":
    sys.exit(main(["profile", *sys.argv[1:]]))
