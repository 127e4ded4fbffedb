"""spark-submit entry point: `synthlib simulate --conf FILE [key=value ...]`."""
import sys

from synthlib.cli import main

if __name__ == "__main__":
    sys.exit(main(["simulate", *sys.argv[1:]]))
