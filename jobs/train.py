"""spark-submit entry point: `synthlib train --conf FILE [key=value ...]`."""
import sys

from synthlib.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
