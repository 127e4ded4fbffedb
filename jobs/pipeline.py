"""spark-submit entry point: `synthlib pipeline --conf FILE [key=value ...]`."""
import sys

from synthlib.cli import main

if __name__ == "__main__":
    sys.exit(main(["pipeline", *sys.argv[1:]]))
