"""``python -m bench``: every benchmark, ``bench/results.json``, the plots and the page."""

from bench.run import main

if __name__ == "__main__":
    main()
