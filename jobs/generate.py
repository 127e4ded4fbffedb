"""spark-submit entry point: `synthlib generate --conf FILE [key=value ...]`."""
import sys

from synthlib.cli import main

if __name__ == "__main__":
    sys.exit(main(["generate", *sys.argv[1:]]))
